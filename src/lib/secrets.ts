// The one registry of secret values. Input parsing registers each secret once (src/input-helper.ts);
// every output path reads it: the runner's masking (a listener calling core.setSecret), the job
// summary, pull-request comment, report JSON and `summary` output, and the helm/kubectl command
// lines and error messages. Pure: no I/O.
import { escapeInline } from './markdown.js';

export const REDACTED = '***';

/**
 * The one rule for what is worth masking. Very short values, booleans, null and short numbers are
 * not: masking "true" or "80" would blank them out of every log line and report, protecting nothing.
 */
export function isMaskable(value: string): boolean {
  return value.length >= 4 && !/^(?:true|false|null|~|\d{1,6})$/i.test(value);
}

/** Called once per registered value, with where it came from (an input name). */
export type SecretListener = (value: string, source: string) => void;

export class SecretRegistry {
  // Private fields (#) so that neither JSON nor test-failure printouts ever show the values.
  readonly #sources = new Map<string, string>();
  readonly #listeners = new Set<SecretListener>();
  #needles: string[] | undefined;

  /**
   * Registers a secret (trimmed). Values that fail isMaskable(), and values already known, are
   * ignored. Returns whether the value was new.
   */
  add(value: string | undefined, source = 'secret'): boolean {
    const v = value?.trim();
    if (!v || !isMaskable(v) || this.#sources.has(v)) return false;
    this.#sources.set(v, source);
    this.#needles = undefined;
    for (const listener of this.#listeners) listener(v, source);
    return true;
  }

  addAll(values: Iterable<string>, source?: string): void {
    for (const v of values) this.add(v, source);
  }

  /** The registered values, in registration order. */
  values(): string[] {
    return [...this.#sources.keys()];
  }

  /** Which input a registered value came from; undefined when it is not registered. */
  sourceOf(value: string): string | undefined {
    return this.#sources.get(value);
  }

  get size(): number {
    return this.#sources.size;
  }

  /**
   * Calls `listener` for every value already registered and every later one (so a late listener
   * misses nothing). Returns a function that removes the listener.
   */
  onAdd(listener: SecretListener): () => void {
    for (const [v, source] of this.#sources) listener(v, source);
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Replaces every occurrence of each secret with `***`: the value as registered and the forms it
   * takes once rendered (Markdown-escaped, JSON-escaped, URI-encoded).
   */
  redact(text: string): string {
    let out = text;
    for (const n of this.#redactionNeedles()) if (out.includes(n)) out = out.split(n).join(REDACTED);
    return out;
  }

  toJSON(): string {
    return `[SecretRegistry: ${this.size} values]`;
  }

  #redactionNeedles(): string[] {
    if (this.#needles) return this.#needles;
    const needles = new Set<string>();
    for (const v of this.#sources.keys()) {
      for (const form of [v, escapeInline(v), JSON.stringify(v).slice(1, -1), encodeURIComponent(v)])
        if (isMaskable(form)) needles.add(form);
    }
    // Longest first, so that a secret containing another is replaced whole.
    this.#needles = [...needles].sort((a, b) => b.length - a.length);
    return this.#needles;
  }
}
