import { MsgpackWriter, type PageSource } from '../duckdb/msgpack-cells.js';

/** Collects a small MessagePack value (an envelope, an error map) into one buffer. */
export class SmallMsgpack implements PageSource {
  private readonly done: Buffer[] = [];
  readonly out = new MsgpackWriter(this, Buffer.allocUnsafe(1024));

  nextPage(full: Buffer, used: number, need: number): Buffer {
    this.done.push(full.subarray(0, used));
    return Buffer.allocUnsafe(Math.max(4096, need));
  }

  /** A JSON-like value: maps keep their key order, whole numbers take the smallest int form. */
  value(v: unknown): void {
    const out = this.out;
    if (v === null || v === undefined) out.nil();
    else if (typeof v === 'boolean') out.bool(v);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) v < 0 ? out.int(v) : out.uint(v);
      else out.float64(v);
    } else if (typeof v === 'string') out.str(v);
    else if (Array.isArray(v)) {
      out.arrayHeader(v.length);
      for (const item of v) this.value(item);
    } else if (typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length < 16) out.mapHeader(entries.length);
      else {
        out.reserve(3);
        out.buf[out.pos] = 0xde;
        out.buf.writeUInt16BE(entries.length, out.pos + 1);
        out.pos += 3;
      }
      for (const [key, item] of entries) {
        out.str(key);
        this.value(item);
      }
    } else out.str(String(v));
  }

  bytes(): Buffer {
    return Buffer.concat([...this.done, this.out.buf.subarray(0, this.out.pos)]);
  }
}

/**
 * Arc's msgpack error map (arc-spec-lifecycle §7.1): success false, error, execution_time_ms,
 * timestamp — plus arc-ts's stable `code` last.
 */
export function msgpackErrorBody(message: string, code: string, elapsedMs: number, timestamp: string): Buffer {
  const body = new SmallMsgpack();
  body.value({ success: false, error: message, execution_time_ms: Math.max(0, Math.floor(elapsedMs)), timestamp, code });
  return body.bytes();
}
