import { DataType, type Table, type Vector } from 'apache-arrow';

export type ColumnKind = 'time' | 'number' | 'text' | 'other';

/** One result column, read lazily: the table and chart ask only for the rows they show. */
export interface ResultColumn {
  name: string;
  kind: ColumnKind;
  /** The Arrow type, as shown in the header tooltip. */
  type: string;
  text(row: number): string;
  /** Numbers as numbers; time in milliseconds since the epoch; null for null or non-numeric. */
  number(row: number): number | null;
}

function kindOf(type: DataType): ColumnKind {
  if (DataType.isTimestamp(type) || DataType.isDate(type)) return 'time';
  if (DataType.isInt(type) || DataType.isFloat(type) || DataType.isDecimal(type)) return 'number';
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type) || DataType.isDictionary(type)) return 'text';
  return 'other';
}

/** Timestamps arrive as milliseconds (apache-arrow converts the unit); dates as ms too. */
function timeText(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString().replace('T', ' ').replace('Z', '');
}

export function resultColumns(table: Table): ResultColumn[] {
  return table.schema.fields.map((field, index) => {
    const vector = table.getChildAt(index) as Vector | null;
    const kind = kindOf(field.type);
    const get = (row: number): unknown => vector?.get(row) ?? null;
    const number = (row: number): number | null => {
      const value = get(row);
      if (value === null) return null;
      if (typeof value === 'number') return value;
      if (typeof value === 'bigint') return Number(value);
      if (value instanceof Date) return value.getTime();
      return null;
    };
    const text = (row: number): string => {
      const value = get(row);
      if (value === null) return 'null';
      if (kind === 'time') {
        const ms = number(row);
        return ms === null ? String(value) : timeText(ms);
      }
      if (typeof value === 'object') return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      return String(value);
    };
    return { name: field.name, kind, type: String(field.type), text, number };
  });
}
