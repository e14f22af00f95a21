import type { LogLevel } from './config/config.js';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SHORT: Record<LogLevel, string> = { debug: 'DBG', info: 'INF', warn: 'WRN', error: 'ERR' };

/** Line-oriented logs on stdout: readable text, or one JSON object per line for collectors. */
export function createLogger(level: LogLevel, format: 'console' | 'json', write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel, message: string, fields: LogFields = {}) => {
    if (RANK[lvl] < min) return;
    const time = new Date().toISOString();
    if (format === 'json') {
      write(JSON.stringify({ time, level: lvl, msg: message, ...fields }, jsonSafe) + '\n');
      return;
    }
    let line = `${time} ${SHORT[lvl]} ${message}`;
    for (const [key, value] of Object.entries(fields)) line += ` ${key}=${formatValue(value)}`;
    write(line + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return value.message;
  return value;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value) ?? String(value);
}
