import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { formatSize } from '../errors.js';
import { authorization, serverUrl } from './profile/profile-command.js';
import { UsageError } from './serve.js';

export const IMPORT_HELP = `usage: arc import FILE [--measurement NAME] [--db DB] [--format csv|parquet|lp] [options]

Uploads FILE to a running server's bulk import (POST /api/v1/import/csv|parquet|lp), streaming it
with a progress bar on stderr, and prints the server's summary: rows imported, rows rejected with
their line numbers and reasons. The format comes from the file name (.csv, .tsv, .parquet, .lp,
.txt; a trailing .gz or .zst is uploaded compressed and decompressed by the server) unless --format
says. Needs an admin token (--token or ARC_TOKEN) when authentication is on.

  --measurement NAME   measurement to import into (required for CSV and Parquet; for line
                       protocol: import only the lines of this measurement)
  --db DB              database (default "default")
  --format FORMAT      csv, parquet or lp
  --time-column NAME   CSV/Parquet: the time column (default "time")
  --time-format FMT    CSV/Parquet: epoch_s, epoch_ms, epoch_us or epoch_ns (default: detect,
                       RFC 3339 text accepted)
  --delimiter CHAR     CSV: field delimiter (default ",", "tab" for tabs; .tsv files: tab)
  --skip-rows N        CSV: lines to skip before the header
  --precision P        line protocol: ns, us, ms or s (default ns)
  --json               print the server's JSON answer instead of the summary
  --url URL            server to talk to (default: the one recorded in --data)
  --data DIR           storage root a running server is recorded in (default storage.local_path)
  --token TOKEN        admin token (default ARC_TOKEN)

Exit status: 0 when the file was imported (even with rejected rows, which are listed), 1 when the
server refused it.
`;

type Format = 'csv' | 'parquet' | 'lp';

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      measurement: { type: 'string' },
      db: { type: 'string' },
      format: { type: 'string' },
      'time-column': { type: 'string' },
      'time-format': { type: 'string' },
      delimiter: { type: 'string' },
      'skip-rows': { type: 'string' },
      precision: { type: 'string' },
      json: { type: 'boolean', default: false },
      url: { type: 'string' },
      data: { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(IMPORT_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`arc import: give exactly one FILE\n\n${IMPORT_HELP}`);
  const file = path.resolve(positionals[0]!);
  const size = fs.statSync(file).size;
  const format = (values.format ?? formatFromName(file)) as Format;
  if (!['csv', 'parquet', 'lp'].includes(format)) throw new UsageError(`arc import: --format must be csv, parquet or lp; got ${JSON.stringify(format)}`);
  const query = new URLSearchParams();
  if (values.measurement) query.set('measurement', values.measurement);
  if (values.db) query.set('db', values.db);
  if (values['time-column']) query.set('time_column', values['time-column']);
  if (values['time-format']) query.set('time_format', values['time-format']);
  const delimiter = values.delimiter ?? (/\.tsv(\.gz|\.zst)?$/i.test(file) ? 'tab' : undefined);
  if (delimiter) query.set('delimiter', delimiter);
  if (values['skip-rows']) query.set('skip_rows', values['skip-rows']);
  if (values.precision) query.set('precision', values.precision);
  const url = new URL(`/api/v1/import/${format}?${query}`, values.url ?? serverUrl(values.data));

  const boundary = `----arc-import-${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${path.basename(file).replace(/["\r\n]/g, '_')}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const progress = new ProgressBar(size, process.stderr);
  async function* body(): AsyncGenerator<Buffer> {
    yield head;
    for await (const piece of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
      yield piece as Buffer;
      progress.sent((piece as Buffer).length);
    }
    yield tail;
  }
  // The answer comes only once the server has imported the whole file: no time limits.
  const dispatcher = new Agent({ headersTimeout: 0, bodyTimeout: 0 });
  try {
    const response = await request(url, {
      method: 'POST',
      dispatcher,
      headers: {
        ...authorization(values.token),
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + size + tail.length),
      },
      body: Readable.from(body(), { objectMode: false }),
    });
    const text = await response.body.text();
    progress.done();
    if (values.json) process.stdout.write(`${text}\n`);
    if (response.statusCode !== 200) {
      if (!values.json) process.stderr.write(`arc import: the server refused the file: ${response.statusCode} ${text}\n`);
      return 1;
    }
    if (!values.json) process.stdout.write(summary(JSON.parse(text) as { result: ImportResult }));
    return 0;
  } finally {
    progress.done();
    await dispatcher.close();
  }
}

function formatFromName(file: string): string {
  const name = file.toLowerCase().replace(/\.(gz|zst)$/, '');
  if (name.endsWith('.csv') || name.endsWith('.tsv')) return 'csv';
  if (name.endsWith('.parquet')) return 'parquet';
  if (name.endsWith('.lp') || name.endsWith('.txt') || name.endsWith('.line')) return 'lp';
  throw new UsageError(`arc import: cannot tell the format of ${path.basename(file)} from its name; pass --format csv|parquet|lp`);
}

interface ImportResult {
  database: string;
  measurements: string[];
  rows_imported: number;
  rows_rejected: number;
  rows_skipped?: number;
  rejected: Array<{ line: number; reason: string }>;
  bytes: number;
  duration_ms: number;
}

function summary({ result }: { result: ImportResult }): string {
  const seconds = result.duration_ms / 1000;
  const lines = [
    `imported ${result.rows_imported.toLocaleString('en-US')} rows into ${result.database}.${result.measurements.join(',') || '(none)'} ` +
      `from ${formatSize(result.bytes)} in ${seconds.toFixed(1)} s (${Math.round(result.rows_imported / Math.max(seconds, 1e-3)).toLocaleString('en-US')} rows/s)`,
  ];
  if (result.rows_skipped) lines.push(`skipped ${result.rows_skipped.toLocaleString('en-US')} rows of other measurements`);
  if (result.rows_rejected > 0) {
    lines.push(`rejected ${result.rows_rejected.toLocaleString('en-US')} rows:`);
    for (const { line, reason } of result.rejected.slice(0, 20)) lines.push(`  line ${line}: ${reason}`);
    if (result.rows_rejected > 20) lines.push(`  … (${result.rejected.length} listed in --json, all counted)`);
  }
  return `${lines.join('\n')}\n`;
}

/** Bytes sent of the file, redrawn at most 5 times a second (a plain line per 10% when stderr is not a terminal). */
class ProgressBar {
  private bytes = 0;
  private lastDraw = 0;
  private lastTenth = -1;
  private finished = false;
  private readonly started = performance.now();

  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream,
  ) {}

  sent(bytes: number): void {
    this.bytes += bytes;
    const now = performance.now();
    if (this.out.isTTY) {
      if (now - this.lastDraw < 200 && this.bytes < this.total) return;
      this.lastDraw = now;
      this.out.write(`\r${this.line(now)}`);
    } else {
      const tenth = Math.floor((10 * this.bytes) / Math.max(1, this.total));
      if (tenth === this.lastTenth) return;
      this.lastTenth = tenth;
      this.out.write(`${this.line(now)}\n`);
    }
  }

  done(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.out.isTTY && this.lastDraw > 0) this.out.write('\n');
  }

  private line(now: number): string {
    const fraction = this.total === 0 ? 1 : this.bytes / this.total;
    const width = 30;
    const filled = Math.round(fraction * width);
    const rate = this.bytes / Math.max((now - this.started) / 1000, 1e-3);
    const state = fraction >= 1 ? 'sent, server importing the rest…' : `${formatSize(Math.round(rate))}/s`;
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatSize(this.bytes)} / ${formatSize(this.total)}  ${state}`;
  }
}
