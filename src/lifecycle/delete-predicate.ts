import duckdbApi, { type DuckDBConnection } from '@duckdb/node-api';
import { parseExactJson, stringifyExactJson } from '../duckdb/query-engine.js';
import { ArcError } from '../errors.js';
import { boundsOf, planQuery, type AstNode } from '../query/sql-plan.js';

const { quotedString } = duckdbApi;

/** The table name the predicate is printed against; stripped again from the printed text. */
const PLACEHOLDER_TABLE = 'arc_delete_source';
/** Widening of time bounds computed from expressions like now() - INTERVAL 3 DAY (µs). */
const BOUND_MARGIN_US = 60_000_000;

export interface DeletePredicate {
  /** The expression as DuckDB prints it back: comments dropped, fully parenthesised. */
  sql: string;
  /** Time bounds (µs, inclusive) outside which no row can match, from `time` conditions joined by AND. */
  lo: number | null;
  hi: number | null;
}

/**
 * Reads a delete's WHERE the way DuckDB parses it (not by pattern matching as Arc does): it must be
 * one boolean expression over the measurement's columns — one statement, no subquery (which could
 * read other tables), no file-reading or settings function. The text embedded in later SQL is
 * DuckDB's own printing of the parsed expression, so nothing in the user's text (a comment, a
 * stray parenthesis, a second statement) can change the SQL around it.
 */
export async function parseDeletePredicate(connection: DuckDBConnection, measurement: string, where: string): Promise<DeletePredicate> {
  const text = where.trim().replace(/^where\s+/i, ''); // Arc tolerates a leading WHERE (then fails in DuckDB); arc-ts drops it
  if (text === '') throw new ArcError('ARC_ERR_BAD_PREDICATE', "WHERE clause is required. To delete all data, use WHERE clause '1=1' with confirm=true");
  const ast = await serialize(connection, `SELECT * FROM ${quoteIdent(measurement)} WHERE ${text}`);
  const several = new ArcError('ARC_ERR_BAD_PREDICATE', 'Invalid WHERE clause: it must be one expression; several statements are not allowed');
  // A second statement that is not a SELECT (`1=1; DROP TABLE x`) fails DuckDB's serializer.
  if (ast.error && /Only SELECT statements/i.test(String(ast.error_message))) throw several;
  if (ast.error) throw new ArcError('ARC_ERR_BAD_PREDICATE', `Invalid WHERE clause: ${String(ast.error_message ?? 'cannot parse')}`);
  const statements = (ast.statements ?? []) as AstNode[];
  if (statements.length !== 1) throw several;
  const statement = statements[0]!;
  const node = statement.node as AstNode;
  const from = node.from_table as AstNode | null;
  const plain =
    node.type === 'SELECT_NODE' &&
    (node.modifiers as unknown[]).length === 0 &&
    ((node.cte_map as { map: unknown[] }).map ?? []).length === 0 &&
    (node.group_expressions as unknown[]).length === 0 &&
    node.having === null &&
    node.qualify === null &&
    node.sample === null &&
    from?.type === 'BASE_TABLE' &&
    node.where_clause !== null;
  if (!plain) throw new ArcError('ARC_ERR_BAD_PREDICATE', 'Invalid WHERE clause: it must be one boolean expression (no ORDER BY, LIMIT, GROUP BY or other clauses)');
  const refused = refusedNode(node.where_clause);
  if (refused) throw new ArcError('ARC_ERR_BAD_PREDICATE', `Invalid WHERE clause: ${refused}`);
  let plan: ReturnType<typeof planQuery>;
  try {
    plan = planQuery(statement, 'default', false); // settings functions are refused here, time conditions found
  } catch (err) {
    throw new ArcError('ARC_ERR_BAD_PREDICATE', `Invalid WHERE clause: ${(err as Error).message}`);
  }
  from.table_name = PLACEHOLDER_TABLE;
  from.schema_name = '';
  from.catalog_name = '';
  const printed = await print(connection, statement);
  const prefix = `SELECT * FROM ${PLACEHOLDER_TABLE} WHERE `;
  if (!printed.startsWith(prefix)) throw new Error(`unexpected printing of a delete predicate: ${printed}`);
  const sql = printed.slice(prefix.length);

  let lo: number | null = null;
  let hi: number | null = null;
  if (plan.conditions.length > 0) {
    const constants = (await serialize(connection, 'SELECT 1')).statements as AstNode[];
    const select = constants[0]!;
    (select.node as AstNode).select_list = plan.conditions.map((c, i) => ({ ...c.expression, alias: `c${i}` }));
    const values = plan.conditions.map((_, i) => `epoch_us(TRY_CAST(c${i} AS TIMESTAMPTZ)) AS c${i}`).join(', ');
    let times: Array<number | null>;
    try {
      const row = (await connection.runAndReadAll(`SELECT ${values} FROM (${await print(connection, select)}) AS constants`)).getRowObjects()[0] ?? {};
      times = plan.conditions.map((_, i) => (row[`c${i}`] === null || row[`c${i}`] === undefined ? null : Number(row[`c${i}`])));
    } catch {
      times = plan.conditions.map(() => null); // not prunable: every file is scanned, the predicate still decides
    }
    const bounds = boundsOf(
      plan.conditions.map((c) => ({ table: 0, operator: c.operator, literal: c.literal })),
      times,
      BOUND_MARGIN_US,
    ).get(0);
    lo = bounds?.lo ?? null;
    hi = bounds?.hi ?? null;
  }
  return { sql, lo, hi };
}

/** Arc's full-table patterns (`1=1`, `TRUE`, `1`): they need confirm even for a dry run. */
export function isFullTablePattern(where: string): boolean {
  const text = where.trim().replace(/^where\s+/i, '').toUpperCase();
  return text === '1=1' || text === 'TRUE' || text === '1';
}

function refusedNode(value: unknown): string | null {
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = refusedNode(item);
      if (found) return found;
    }
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const node = value as AstNode;
  if (node.class === 'SUBQUERY') return 'subqueries are not allowed; the expression may only read the rows being deleted';
  if (node.class === 'FUNCTION' && typeof node.function_name === 'string' && /^(read_|parquet_|glob$|query$|query_table$|sniff_csv$|iceberg_|delta_)/i.test(node.function_name)) {
    return `function not allowed in a delete: ${node.function_name.toLowerCase()}()`;
  }
  for (const child of Object.values(node)) {
    const found = refusedNode(child);
    if (found) return found;
  }
  return null;
}

async function serialize(connection: DuckDBConnection, sql: string): Promise<Record<string, unknown>> {
  const row = (await connection.runAndReadAll(`SELECT json_serialize_sql(${quotedString(sql)}) AS ast`)).getRowObjects()[0]!;
  return parseExactJson(String(row.ast)) as Record<string, unknown>;
}

async function print(connection: DuckDBConnection, statement: AstNode): Promise<string> {
  const json = stringifyExactJson({ error: false, statements: [statement] });
  const row = (await connection.runAndReadAll(`SELECT json_deserialize_sql(${quotedString(json)}) AS sql`)).getRowObjects()[0]!;
  return String(row.sql);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
