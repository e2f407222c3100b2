// Generic object storage with one global resourceVersion counter and an event history for watch.
import type { ResourceDef } from './resources.js';
import { clone, type Obj } from './util.js';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  rv: number;
  type: EventType;
  def: ResourceDef;
  obj: Obj;
}

const HISTORY = 20000;

export const storeKey = (def: ResourceDef): string => `${def.group}/${def.resource}`;
const objKey = (ns: string | undefined, name: string): string => `${ns ?? ''}/${name}`;

export class Store {
  rv = 1;
  private data = new Map<string, Map<string, Obj>>();
  private history: StoredEvent[] = [];
  private listeners = new Set<(e: StoredEvent) => void>();

  currentRv(): string {
    return String(this.rv);
  }

  private bucket(def: ResourceDef): Map<string, Obj> {
    const k = storeKey(def);
    let b = this.data.get(k);
    if (!b) this.data.set(k, (b = new Map()));
    return b;
  }

  get(def: ResourceDef, ns: string | undefined, name: string): Obj | undefined {
    return clone(this.bucket(def).get(objKey(def.namespaced ? ns : undefined, name)));
  }

  list(def: ResourceDef, ns?: string): Obj[] {
    const out: Obj[] = [];
    for (const o of this.bucket(def).values())
      if (!def.namespaced || !ns || o.metadata?.namespace === ns) out.push(clone(o));
    return out.sort((a, b) =>
      `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace ?? ''}/${b.metadata.name}`,
      ),
    );
  }

  /** Every stored object of every resource (for garbage collection and namespace deletion). */
  *all(defs: ResourceDef[]): Generator<[ResourceDef, Obj]> {
    for (const def of defs) for (const o of this.bucket(def).values()) yield [def, o];
  }

  /** Stores the object (assigning a new resourceVersion) and emits ADDED or MODIFIED. */
  put(def: ResourceDef, obj: Obj): Obj {
    const b = this.bucket(def);
    const key = objKey(def.namespaced ? obj.metadata.namespace : undefined, obj.metadata.name);
    const existed = b.has(key);
    const stored = clone(obj);
    this.rv++;
    stored.metadata.resourceVersion = String(this.rv);
    b.set(key, stored);
    this.emit({ rv: this.rv, type: existed ? 'MODIFIED' : 'ADDED', def, obj: stored });
    return clone(stored);
  }

  remove(def: ResourceDef, ns: string | undefined, name: string): Obj | undefined {
    const b = this.bucket(def);
    const key = objKey(def.namespaced ? ns : undefined, name);
    const old = b.get(key);
    if (!old) return undefined;
    b.delete(key);
    this.rv++;
    const gone = clone(old);
    gone.metadata.resourceVersion = String(this.rv);
    this.emit({ rv: this.rv, type: 'DELETED', def, obj: gone });
    return clone(gone);
  }

  private emit(e: StoredEvent): void {
    this.history.push(e);
    if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY);
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        /* a broken listener must not break writes */
      }
    }
  }

  /** Events after resourceVersion `rv`, or undefined when they are no longer kept (410 Gone). */
  since(rv: number): StoredEvent[] | undefined {
    if (this.history.length && this.history[0].rv > rv + 1 && rv < this.history[0].rv - 1) {
      if (this.history.length >= HISTORY) return undefined;
    }
    return this.history.filter((e) => e.rv > rv);
  }

  subscribe(l: (e: StoredEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
