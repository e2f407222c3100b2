// Splitting of multi-line action inputs. Pure.

/**
 * Newline-separated input -> trimmed, non-empty lines. Only newlines separate (CRLF tolerated);
 * commas are kept, because values (helm --set, headers, paths) may contain them.
 */
export function splitLines(text: string | undefined): string[] {
  if (!text) return [];
  return text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/**
 * Comma- (or newline-) separated list -> trimmed items. Empty items are kept as '' so callers can
 * report "10,,50" instead of silently accepting it; an entirely blank text gives [].
 */
export function splitList(text: string | undefined): string[] {
  if (!text || text.trim() === '') return [];
  return text.split(/,|\r?\n|\r/).map((s) => s.trim());
}
