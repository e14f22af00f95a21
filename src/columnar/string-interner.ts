import { randomBytes } from 'node:crypto';

/**
 * Linear probing gives up after this many slots: the string then takes the slow (still correct)
 * path. With a per-process random seed nobody can compute colliding inputs in advance; the cap
 * bounds the damage even if someone finds some.
 */
const MAX_PROBES = 64;

/**
 * A long-lived table from UTF-8 bytes to JS strings, keyed by the raw bytes, so a value seen
 * before (a host name, a region) costs one hash and one byte compare instead of a new string.
 * Telemetry repeats the same tag values in every request; this is where decoding them is cheap.
 *
 * Bounded: `trim()` (called between requests) empties it once it holds more than `maxEntries`
 * strings or `maxBytes` bytes, so a stream of unique values cannot grow it without limit.
 * Hashes are seeded per process (hash flooding: a client must not be able to choose values that
 * all land in one chain). Not thread-safe; owned by the thread that decodes.
 */
export class StringInterner {
  /** Global id → string. */
  readonly strings: string[] = [];
  private slots: Int32Array; // global id + 1, 0 = empty
  private mask: number;
  private hashes = new Int32Array(1024);
  private offsets = new Int32Array(1024);
  private lengths = new Int32Array(1024);
  private pool = new Uint8Array(1 << 16);
  private poolUsed = 0;
  /** Per global id: the epoch of the dictionary that last used it, and its id there. */
  private epochOf = new Int32Array(1024);
  private localOf = new Int32Array(1024);
  private epoch = 0;
  private readonly seed = randomBytes(4).readInt32LE(0);

  constructor(
    private readonly decode: (bytes: Buffer, start: number, end: number) => string,
    readonly maxEntries = 1 << 20,
    readonly maxBytes = 64 << 20,
  ) {
    this.slots = new Int32Array(2048);
    this.mask = 2047;
  }

  get size(): number {
    return this.strings.length;
  }

  /** Empties the table when it passed its bounds. Call only between requests. */
  trim(): void {
    if (this.strings.length <= this.maxEntries && this.poolUsed <= this.maxBytes) return;
    this.strings.length = 0;
    this.slots.fill(0);
    this.poolUsed = 0;
    this.epochOf.fill(0);
  }

  /** Global id of the string in bytes[start, start+length); -1 when the table is full. */
  intern(bytes: Buffer, start: number, length: number): number {
    let hash = this.seed ^ Math.imul(length, 0x9e3779b1);
    const end = start + length;
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
    // Final avalanche (murmur3's): the seed reaches every bit of the slot index.
    hash ^= hash >>> 16;
    hash = Math.imul(hash, 0x85ebca6b);
    hash ^= hash >>> 13;
    hash = Math.imul(hash, 0xc2b2ae35);
    hash ^= hash >>> 16;
    const slots = this.slots;
    const mask = this.mask;
    for (let slot = hash & mask, probes = 0; ; slot = (slot + 1) & mask) {
      if (++probes > MAX_PROBES) return -1;
      const entry = slots[slot]!;
      if (entry === 0) return this.add(bytes, start, length, hash, slot);
      const id = entry - 1;
      if (this.hashes[id] === hash && this.lengths[id] === length) {
        const pool = this.pool;
        let p = this.offsets[id]!;
        let i = start;
        while (i < end && pool[p] === bytes[i]) {
          p++;
          i++;
        }
        if (i === end) return id;
      }
    }
  }

  decodeBytes(bytes: Buffer, start: number, end: number): string {
    return this.decode(bytes, start, end);
  }

  /** A fresh epoch for a new dictionary; see `DictionaryBuilder`. */
  nextEpoch(): number {
    return ++this.epoch;
  }

  /** Local id of global id `id` in the dictionary of `epoch`, or -1 if it has none yet. */
  localId(id: number, epoch: number): number {
    return this.epochOf[id] === epoch ? this.localOf[id]! : -1;
  }

  setLocalId(id: number, epoch: number, local: number): void {
    this.epochOf[id] = epoch;
    this.localOf[id] = local;
  }

  private add(bytes: Buffer, start: number, length: number, hash: number, slot: number): number {
    const id = this.strings.length;
    if (id >= this.maxEntries * 2 || this.poolUsed + length > this.maxBytes * 2) return -1;
    if (id === this.hashes.length) this.growEntries();
    if (this.poolUsed + length > this.pool.length) {
      const pool = new Uint8Array(Math.max(this.pool.length * 2, this.poolUsed + length));
      pool.set(this.pool.subarray(0, this.poolUsed));
      this.pool = pool;
    }
    this.pool.set(bytes.subarray(start, start + length), this.poolUsed);
    this.offsets[id] = this.poolUsed;
    this.poolUsed += length;
    this.hashes[id] = hash;
    this.lengths[id] = length;
    this.epochOf[id] = 0;
    this.strings.push(this.decode(bytes, start, start + length));
    this.slots[slot] = id + 1;
    if (this.strings.length * 2 > this.mask) this.rehash();
    return id;
  }

  private growEntries(): void {
    const grow = (a: Int32Array) => {
      const b = new Int32Array(a.length * 2);
      b.set(a);
      return b;
    };
    this.hashes = grow(this.hashes);
    this.offsets = grow(this.offsets);
    this.lengths = grow(this.lengths);
    this.epochOf = grow(this.epochOf);
    this.localOf = grow(this.localOf);
  }

  private rehash(): void {
    this.mask = this.mask * 2 + 1;
    const slots = new Int32Array(this.mask + 1);
    for (let id = 0; id < this.strings.length; id++) {
      let slot = this.hashes[id]! & this.mask;
      while (slots[slot] !== 0) slot = (slot + 1) & this.mask;
      slots[slot] = id + 1;
    }
    this.slots = slots;
  }
}

/**
 * Builds the dictionary of one string column of one batch from an interner: each distinct value
 * gets a dense local id in first-seen order. Only one builder per interner may be filling at a
 * time (they share the interner's epoch slots); the columnar decoder fills columns one by one.
 */
export class DictionaryBuilder {
  readonly dictionary: string[] = [];
  private readonly epoch: number;
  private overflow: Map<string, number> | null = null;

  constructor(private readonly interner: StringInterner) {
    this.epoch = interner.nextEpoch();
  }

  idOf(bytes: Buffer, start: number, length: number): number {
    const interner = this.interner;
    const global = interner.intern(bytes, start, length);
    if (global < 0) return this.overflowId(interner.decodeBytes(bytes, start, start + length));
    const local = interner.localId(global, this.epoch);
    if (local >= 0) return local;
    const id = this.dictionary.length;
    this.dictionary.push(interner.strings[global]!);
    interner.setLocalId(global, this.epoch, id);
    return id;
  }

  /** The interner is full: dedupe through a plain map (slower, still correct). */
  private overflowId(value: string): number {
    this.overflow ??= new Map(this.dictionary.map((s, i) => [s, i]));
    let id = this.overflow.get(value);
    if (id === undefined) {
      id = this.dictionary.length;
      this.dictionary.push(value);
      this.overflow.set(value, id);
    }
    return id;
  }
}
