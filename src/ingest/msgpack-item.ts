import type { ColumnBatch } from '../columnar/column-batch.js';

// Shared by the columnar decoder (msgpack-decode.ts) and the row collector (msgpack-rows.ts), so
// neither imports the other's module for them.

/** A decoded batch and the index of the payload item it came from (for error messages). */
export interface DecodedBatch {
  batch: ColumnBatch;
  item: number;
}

/** An invalid item; the decoder prefixes the item index. */
export class ItemError extends Error {
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
