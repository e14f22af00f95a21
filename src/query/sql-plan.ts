import { ArcError } from '../errors.js';
import { checkDatabaseName, isValidMeasurementName, measurementNameError } from '../ingest/names.js';

/**
 * Reading user SQL the way DuckDB itself parses it (the JSON AST of json_serialize_sql), instead
 * of with regular expressions: which tables are measurements (and which are CTE names), which
 * table functions are called, and which `time` conditions bound each table (for pruning).
 */
export type AstNode = Record<string, unknown>;

/** A measurement a query reads: `FROM cpu` (the request's database) or `FROM prod.cpu`. */
export interface TableReference {
  /** The BASE_TABLE node in the AST; replaceTablesWithCalls turns it into a placeholder call. */
  node: AstNode;
  database: string;
  measurement: string;
  /** How columns may qualify it: its alias, else its table name (lower case). */
  qualifier: string;
}

export type TimeOperator = 'gt' | 'ge' | 'lt' | 'le' | 'eq';

/** `time <op> <expression without columns>` in a WHERE conjunction directly over the table. */
export interface TimeCondition {
  table: TableReference;
  operator: TimeOperator;
  expression: AstNode;
  /** Literals and casts only: its value cannot move between planning and running. */
  literal: boolean;
}

export interface QueryPlan {
  tables: TableReference[];
  conditions: TimeCondition[];
  /**
   * A FROM item of a kind this planner does not know (a newer DuckDB's table reference): it may
   * read data that `tables` does not list, so a token scoped to databases must not run the
   * statement (fail closed). Null when every FROM item is understood.
   */
  unknownSource: string | null;
}

/** The FROM items the walk understands: everything they read is a BASE_TABLE somewhere beneath them, or no table at all. */
const KNOWN_FROM_ITEMS = new Set(['BASE_TABLE', 'JOIN', 'SUBQUERY', 'TABLE_FUNCTION', 'EXPRESSION_LIST', 'EMPTY', 'SHOW_REF', 'PIVOT']);

/** Table functions user SQL may call; everything else (file readers, `query()`) is refused. */
const ALLOWED_TABLE_FUNCTIONS = new Set(['range', 'generate_series', 'unnest', 'json_each', 'json_tree']);
/** Named in Arc's message: these read files (arc-spec §9). */
const FILE_FUNCTION = /^(read_|parquet_|glob$|delta_scan$|iceberg_|sniff_csv$|csv_scan$|json_scan$)/;
/** Catalog schemas DuckDB provides; tables there are not measurements. */
const SYSTEM_SCHEMAS = new Set(['information_schema', 'pg_catalog']);
/**
 * Scalar functions that read the server's own state (settings hold file paths, environment
 * variables may hold secrets): a read token must not reach them.
 */
const INTERNAL_SCALARS = new Set(['current_setting', 'getenv', 'current_setting_from_string']);
/** Catalog views of the same kind (pg_settings lists every setting, paths included). */
const INTERNAL_VIEW = /^(pg_settings|pg_file_settings|duckdb_.*)$/;

const OPERATORS: Record<string, TimeOperator> = {
  COMPARE_GREATERTHAN: 'gt',
  COMPARE_GREATERTHANOREQUALTO: 'ge',
  COMPARE_LESSTHAN: 'lt',
  COMPARE_LESSTHANOREQUALTO: 'le',
  COMPARE_EQUAL: 'eq',
};
const FLIPPED: Record<TimeOperator, TimeOperator> = { gt: 'lt', ge: 'le', lt: 'gt', le: 'ge', eq: 'eq' };

/**
 * Finds the measurements of one SELECT statement and the time conditions over them; refuses
 * file-reading and other non-allowed table functions with Arc's messages (400).
 * @param database the request's database (x-arc-database or "default") for unqualified names
 * @param headerDatabase whether x-arc-database was sent: Arc then refuses `db.table` names
 */
export function planQuery(statement: AstNode, database: string, headerDatabase: boolean): QueryPlan {
  const plan: QueryPlan = { tables: [], conditions: [], unknownSource: null };
  const checkFromItem = (item: unknown): void => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return;
    const type = String((item as AstNode).type ?? '');
    if (!KNOWN_FROM_ITEMS.has(type)) plan.unknownSource ??= type;
  };
  const references = new Map<AstNode, TableReference>();

  const visit = (value: unknown, ctes: ReadonlySet<string>): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, ctes);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const node = value as AstNode;
    let scope = ctes;
    const cteMap = (node.cte_map as { map?: Array<{ key: string; value: unknown }> } | undefined)?.map;
    if (cteMap && cteMap.length > 0) {
      scope = new Set([...ctes, ...cteMap.map((entry) => entry.key.toLowerCase())]);
    }
    if (node.type === 'BASE_TABLE') {
      const reference = tableReference(node, scope, database, headerDatabase);
      if (reference) {
        references.set(node, reference);
        plan.tables.push(reference);
      }
      return;
    }
    if (node.type === 'TABLE_FUNCTION') checkTableFunction(node);
    if (node.type === 'SELECT_NODE') checkFromItem(node.from_table);
    else if (node.type === 'JOIN') {
      checkFromItem(node.left);
      checkFromItem(node.right);
    } else if (node.type === 'PIVOT') checkFromItem(node.source);
    if (node.class === 'FUNCTION' && typeof node.function_name === 'string' && INTERNAL_SCALARS.has(node.function_name.toLowerCase())) {
      throw new ArcError('ARC_ERR_BAD_QUERY', `Function not allowed in user SQL: ${node.function_name.toLowerCase()}() reads server settings or environment`);
    }
    // from_table first, so a SELECT's tables are known when its WHERE is read.
    if (node.type === 'SELECT_NODE') visit(node.from_table, scope);
    for (const [key, child] of Object.entries(node)) {
      if (key === 'from_table' && node.type === 'SELECT_NODE') continue;
      visit(child, scope);
    }
    if (node.type === 'SELECT_NODE' && node.where_clause) collectConditions(node, references, plan.conditions);
  };
  visit(statement, new Set());
  return plan;
}

function tableReference(node: AstNode, ctes: ReadonlySet<string>, database: string, headerDatabase: boolean): TableReference | null {
  const schema = String(node.schema_name ?? '');
  const table = String(node.table_name ?? '');
  const catalog = String(node.catalog_name ?? '');
  if (schema === '' && catalog === '' && ctes.has(table.toLowerCase())) return null;
  if (SYSTEM_SCHEMAS.has(schema.toLowerCase())) {
    if (INTERNAL_VIEW.test(table.toLowerCase())) throw new ArcError('ARC_ERR_BAD_QUERY', `System view not allowed in user SQL: ${schema}.${table} exposes server settings`);
    return null;
  }
  if (catalog !== '') throw new ArcError('ARC_ERR_BAD_QUERY', `invalid table reference "${catalog}.${schema}.${table}": use measurement or database.measurement`);
  let resolved = database;
  if (schema !== '') {
    if (headerDatabase) {
      throw new ArcError('ARC_ERR_BAD_QUERY', 'Cross-database queries (db.table syntax) not allowed when x-arc-database header is set');
    }
    checkDatabaseName(schema);
    resolved = schema;
  }
  if (!isValidMeasurementName(table)) throw new ArcError('ARC_ERR_BAD_QUERY', measurementNameError(table));
  const alias = String(node.alias ?? '');
  return { node, database: resolved, measurement: table, qualifier: (alias || table).toLowerCase() };
}

function checkTableFunction(node: AstNode): void {
  const name = String((node.function as AstNode | undefined)?.function_name ?? '').toLowerCase();
  if (ALLOWED_TABLE_FUNCTIONS.has(name)) return;
  if (FILE_FUNCTION.test(name)) throw new ArcError('ARC_ERR_BAD_QUERY', `File I/O function not allowed in user SQL: ${name}()`);
  throw new ArcError('ARC_ERR_BAD_QUERY', `Table function not allowed in user SQL: ${name}()`);
}

/** Tables this SELECT reads directly (through joins, not through subqueries). */
function directTables(from: unknown, references: Map<AstNode, TableReference>, out: TableReference[] = []): TableReference[] {
  if (from === null || typeof from !== 'object') return out;
  const node = from as AstNode;
  if (node.type === 'BASE_TABLE') {
    const reference = references.get(node);
    if (reference) out.push(reference);
  } else if (node.type === 'JOIN') {
    directTables(node.left, references, out);
    directTables(node.right, references, out);
  }
  return out;
}

function collectConditions(select: AstNode, references: Map<AstNode, TableReference>, out: TimeCondition[]): void {
  const tables = directTables(select.from_table, references);
  if (tables.length === 0) return;
  const timeTable = (expression: unknown): TableReference | null => {
    const node = expression as AstNode | null;
    if (!node || node.class !== 'COLUMN_REF') return null;
    const names = (node.column_names as string[]).map((n) => n.toLowerCase());
    if (names.length === 1 && names[0] === 'time') return tables.length === 1 ? tables[0]! : null;
    if (names.length === 2 && names[1] === 'time') return tables.find((t) => t.qualifier === names[0]) ?? null;
    return null;
  };
  for (const conjunct of conjuncts(select.where_clause as AstNode)) {
    if (conjunct.class === 'COMPARISON') {
      const operator = OPERATORS[String(conjunct.type)];
      if (!operator) continue;
      const left = timeTable(conjunct.left);
      const right = timeTable(conjunct.right);
      if (left && isConstant(conjunct.right)) out.push(condition(left, operator, conjunct.right as AstNode));
      else if (right && isConstant(conjunct.left)) out.push(condition(right, FLIPPED[operator], conjunct.left as AstNode));
    } else if (conjunct.class === 'BETWEEN') {
      const table = timeTable(conjunct.input);
      if (table && isConstant(conjunct.lower) && isConstant(conjunct.upper)) {
        out.push(condition(table, 'ge', conjunct.lower as AstNode));
        out.push(condition(table, 'le', conjunct.upper as AstNode));
      }
    }
  }
}

function condition(table: TableReference, operator: TimeOperator, expression: AstNode): TimeCondition {
  return { table, operator, expression, literal: isLiteral(expression) };
}

function isLiteral(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(isLiteral);
  if (value === null || typeof value !== 'object') return true;
  const node = value as AstNode;
  if (node.class === 'FUNCTION') return false; // now(), current_timestamp, arithmetic
  return Object.values(node).every(isLiteral);
}

function conjuncts(node: AstNode | null | undefined): AstNode[] {
  if (!node) return [];
  if (node.class === 'CONJUNCTION' && node.type === 'CONJUNCTION_AND') return (node.children as AstNode[]).flatMap(conjuncts);
  return [node];
}

/** No column, star or subquery anywhere inside: the value is the same for every row. */
function isConstant(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(isConstant);
  if (value === null || typeof value !== 'object') return true;
  const node = value as AstNode;
  if (node.class === 'COLUMN_REF' || node.class === 'STAR' || node.class === 'SUBQUERY') return false;
  return Object.values(node).every(isConstant);
}

/**
 * Turns each table reference into a call of the placeholder table function `names[k]()`, keeping
 * the name columns qualify it by (its alias, else the measurement), its sample and column aliases.
 * The caller prints the statement once and substitutes each call with the table's current source.
 * @param call a TABLE_FUNCTION node (of `SELECT * FROM f()`) to copy
 */
export function replaceTablesWithCalls(tables: readonly TableReference[], call: AstNode, names: readonly string[]): void {
  tables.forEach((reference, k) => {
    const node = reference.node;
    const replacement = structuredClone(call);
    replacement.alias = node.alias || reference.measurement;
    (replacement.function as AstNode).function_name = names[k];
    if (node.sample) replacement.sample = node.sample;
    if (Array.isArray(node.column_name_alias)) replacement.column_name_alias = node.column_name_alias;
    for (const key of Object.keys(node)) delete node[key];
    Object.assign(node, replacement);
  });
}

/**
 * The time conditions as [lowest, highest] µs bounds per table, inclusive (null = unbounded).
 * Expressions with functions (`now() - INTERVAL 1 HOUR`) are widened by `marginMicros`, because
 * they are evaluated a moment before the query runs.
 */
export function boundsOf<T>(
  conditions: ReadonlyArray<{ table: T; operator: TimeOperator; literal: boolean }>,
  values: ReadonlyArray<number | null>,
  marginMicros: number,
): Map<T, { lo: number | null; hi: number | null }> {
  const bounds = new Map<T, { lo: number | null; hi: number | null }>();
  conditions.forEach((condition, i) => {
    const value = values[i];
    if (value === null || value === undefined) return;
    let entry = bounds.get(condition.table);
    if (!entry) bounds.set(condition.table, (entry = { lo: null, hi: null }));
    const margin = condition.literal ? 0 : marginMicros;
    const { operator } = condition;
    if (operator === 'gt' || operator === 'ge' || operator === 'eq') {
      const lo = value - margin + (operator === 'gt' && margin === 0 ? 1 : 0);
      entry.lo = Math.max(entry.lo ?? -Infinity, lo);
    }
    if (operator === 'lt' || operator === 'le' || operator === 'eq') {
      const hi = value + margin - (operator === 'lt' && margin === 0 ? 1 : 0);
      entry.hi = Math.min(entry.hi ?? Infinity, hi);
    }
  });
  return bounds;
}
