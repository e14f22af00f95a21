/**
 * Recycles the SharedArrayBuffers behind buffer columns. Fresh memory is expensive (each new page
 * faults, and on VMs with free-page reporting it faults again after every free), and a busy
 * server fills and flushes hundreds of MB a second; handing the same memory back and forth keeps
 * that cost off the hot path. Buffers are shared, not transferred, so a flush worker reads them in
 * place and the main thread still owns the data if that worker dies mid-flush.
 */
export class ArrayPool {
  /** Free buffers by byte size (powers of two). */
  private readonly free = new Map<number, SharedArrayBuffer[]>();
  private pooledBytes = 0;

  constructor(private readonly maxPooledBytes: number) {}

  /** A buffer of at least `bytes` bytes (rounded up to a power of two), zeroed or not. */
  take(bytes: number): SharedArrayBuffer {
    const size = roundUp(bytes);
    const list = this.free.get(size);
    const reused = list?.pop();
    if (reused !== undefined) {
      this.pooledBytes -= size;
      return reused;
    }
    return new SharedArrayBuffer(size);
  }

  give(buffer: SharedArrayBuffer): void {
    const size = buffer.byteLength;
    if (size !== roundUp(size) || this.pooledBytes + size > this.maxPooledBytes) return; // let GC have it
    let list = this.free.get(size);
    if (list === undefined) {
      list = [];
      this.free.set(size, list);
    }
    list.push(buffer);
    this.pooledBytes += size;
  }

  get bytes(): number {
    return this.pooledBytes;
  }
}

const MIN_SIZE = 4096;

function roundUp(bytes: number): number {
  return bytes <= MIN_SIZE ? MIN_SIZE : 2 ** Math.ceil(Math.log2(bytes));
}
