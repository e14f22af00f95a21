const HISTORY_KEY = 'arc.console.history';
const HISTORY_LIMIT = 30;

export interface HistoryEntry {
  sql: string;
  database: string;
  at: string;
  rows: number | null;
  ms: number | null;
  error: string | null;
}

/** Recent queries of this browser, newest first (localStorage: it outlives the tab, unlike the token). */
export function loadHistory(): HistoryEntry[] {
  try {
    const parsed = JSON.parse(localStorage.getItem(HISTORY_KEY) ?? '[]') as unknown;
    return Array.isArray(parsed) ? (parsed as HistoryEntry[]) : [];
  } catch {
    return [];
  }
}

export function remember(entry: HistoryEntry): HistoryEntry[] {
  const list = [entry, ...loadHistory().filter((e) => e.sql !== entry.sql || e.database !== entry.database)].slice(0, HISTORY_LIMIT);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(list));
  return list;
}
