import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir } from '../storage/durable-files.js';

/**
 * The metadata directory under storage.local_path. It starts with `_`, so neither the file catalog
 * nor SHOW DATABASES takes it for a database, and backups copy it with the token store.
 */
export const METADATA_DIR = '_metadata';

/** A stored definition: an integer id (Arc's routes address policies and queries by id) plus fields. */
export interface Definition {
  id: number;
}

interface StoredCollection<T extends Definition> {
  format: 1;
  next_id: number;
  items: T[];
}

/**
 * One kind of lifecycle definition (retention policies, continuous queries, their execution
 * histories) kept as one JSON file `<root>/_metadata/<name>.json`. The file is small (definitions,
 * not data), so every change rewrites it whole: written to a temp file, fsynced, renamed over the
 * old one, directory fsynced. A crash leaves the old or the new version, never a torn one.
 * Changes are serialised through one promise chain so concurrent requests cannot lose an update.
 */
export class DefinitionStore<T extends Definition> {
  private collection: StoredCollection<T>;
  private chain: Promise<unknown> = Promise.resolve();
  readonly file: string;

  private constructor(file: string, collection: StoredCollection<T>) {
    this.file = file;
    this.collection = collection;
  }

  /** Opens (or starts empty) `<root>/_metadata/<name>.json`; a corrupt file is an error, not an empty store. */
  static open<T extends Definition>(root: string, name: string): DefinitionStore<T> {
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new Error(`invalid definition store name ${name}`);
    const dir = path.join(root, METADATA_DIR);
    const file = path.join(dir, `${name}.json`);
    let collection: StoredCollection<T> = { format: 1, next_id: 1, items: [] };
    let text: string | null = null;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== null) {
      const parsed = JSON.parse(text) as StoredCollection<T>;
      if (parsed.format !== 1 || !Array.isArray(parsed.items) || !Number.isSafeInteger(parsed.next_id)) {
        throw new Error(`${file} is not a definition store of format 1`);
      }
      collection = parsed;
    }
    return new DefinitionStore<T>(file, collection);
  }

  list(): readonly T[] {
    return this.collection.items;
  }

  get(id: number): T | undefined {
    return this.collection.items.find((item) => item.id === id);
  }

  /** Stores `fields` under a new id; resolves once the change is durable. */
  insert(fields: Omit<T, 'id'>): Promise<T> {
    return this.mutate((collection) => {
      const item = { ...fields, id: collection.next_id } as T;
      return { next: { ...collection, next_id: collection.next_id + 1, items: [...collection.items, item] }, result: item };
    });
  }

  /** Replaces the item with `id` by `update(old)`; resolves to the new item, or undefined when there is none. */
  update(id: number, update: (old: T) => T): Promise<T | undefined> {
    return this.mutate((collection) => {
      const index = collection.items.findIndex((item) => item.id === id);
      if (index < 0) return { next: null, result: undefined };
      const item = { ...update(collection.items[index]!), id };
      const items = collection.items.slice();
      items[index] = item;
      return { next: { ...collection, items }, result: item };
    });
  }

  /** Removes every item `predicate` selects; resolves to the removed items. */
  remove(predicate: (item: T) => boolean): Promise<T[]> {
    return this.mutate((collection) => {
      const removed = collection.items.filter(predicate);
      if (removed.length === 0) return { next: null, result: removed };
      return { next: { ...collection, items: collection.items.filter((item) => !predicate(item)) }, result: removed };
    });
  }

  /** Keeps only the newest `keep` items (for execution histories). */
  trim(keep: number): Promise<void> {
    return this.mutate((collection) => {
      if (collection.items.length <= keep) return { next: null, result: undefined };
      return { next: { ...collection, items: collection.items.slice(collection.items.length - keep) }, result: undefined };
    });
  }

  /** Waits for changes already asked for (before a backup copies the file, or at shutdown). */
  settled(): Promise<void> {
    return this.chain.then(
      () => undefined,
      () => undefined,
    );
  }

  private mutate<R>(change: (collection: StoredCollection<T>) => { next: StoredCollection<T> | null; result: R }): Promise<R> {
    const run = this.chain.then(() => {
      const { next, result } = change(this.collection);
      if (next) {
        this.persist(next);
        this.collection = next;
      }
      return result;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private persist(collection: StoredCollection<T>): void {
    const dir = path.dirname(this.file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.tmp`;
    const fd = fs.openSync(temp, 'w', 0o600);
    try {
      fs.writeFileSync(fd, JSON.stringify(collection, null, 1)); // loops over short writes, unlike writeSync
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, this.file);
    fsyncDir(dir);
  }
}
