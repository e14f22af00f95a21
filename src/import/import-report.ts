/** What one import did, as the `result` of its response. */
export type ImportFormat = 'csv' | 'parquet' | 'lp';

/** Rejected rows listed in a response; all of them are counted. */
export const MAX_LISTED_REJECTIONS = 100;

export interface RejectedRow {
  /** CSV and line protocol: the file's line number (from 1, counting every line); Parquet: the row number (from 1). */
  line: number;
  reason: string;
}

export class ImportReport {
  rowsImported = 0;
  rowsRejected = 0;
  /** Line protocol: lines of other measurements than `measurement` (the filter), not imported. */
  rowsSkipped = 0;
  readonly rejected: RejectedRow[] = [];
  /** Bytes of the uploaded file as received (before decompression). */
  bytes = 0;
  /** The column types written, name → int64 | float64 | bool | string (CSV and Parquet). */
  columns: Record<string, string> | null = null;
  readonly measurements = new Set<string>();
  private readonly started = performance.now();

  constructor(
    readonly format: ImportFormat,
    readonly database: string,
  ) {}

  reject(line: number, reason: string): void {
    this.rowsRejected++;
    if (this.rejected.length < MAX_LISTED_REJECTIONS) this.rejected.push({ line, reason });
  }

  get durationMs(): number {
    return Math.round((performance.now() - this.started) * 1000) / 1000;
  }

  toJson(): Record<string, unknown> {
    return {
      format: this.format,
      database: this.database,
      measurements: [...this.measurements].sort(),
      rows_imported: this.rowsImported,
      rows_rejected: this.rowsRejected,
      ...(this.format === 'lp' ? { rows_skipped: this.rowsSkipped } : {}),
      rejected: this.rejected,
      rejected_listed_max: MAX_LISTED_REJECTIONS,
      ...(this.columns ? { columns: this.columns } : {}),
      bytes: this.bytes,
      duration_ms: this.durationMs,
    };
  }
}

/** Totals since start-up for GET /api/v1/import/stats. */
export class ImportStats {
  active = 0;
  private readonly byFormat: Record<ImportFormat, { imports: number; failed: number; rows: number; rejected: number; bytes: number }> = {
    csv: { imports: 0, failed: 0, rows: 0, rejected: 0, bytes: 0 },
    parquet: { imports: 0, failed: 0, rows: 0, rejected: 0, bytes: 0 },
    lp: { imports: 0, failed: 0, rows: 0, rejected: 0, bytes: 0 },
  };
  private last: Record<string, unknown> | null = null;

  /** Counts a finished import, successful or not (`error` set); rows it wrote count either way. */
  finished(report: ImportReport, error: { code: string; message: string } | null): void {
    const totals = this.byFormat[report.format];
    totals.imports++;
    if (error) totals.failed++;
    totals.rows += report.rowsImported;
    totals.rejected += report.rowsRejected;
    totals.bytes += report.bytes;
    this.last = { ...report.toJson(), finished_at: new Date().toISOString(), ...(error ? { error: error.message, code: error.code } : {}) };
  }

  toJson(): Record<string, unknown> {
    const formats = Object.entries(this.byFormat).map(([format, t]) => [
      format,
      { imports: t.imports, failed: t.failed, rows_imported: t.rows, rows_rejected: t.rejected, bytes: t.bytes },
    ]);
    return { active_imports: this.active, ...Object.fromEntries(formats), last_import: this.last };
  }
}
