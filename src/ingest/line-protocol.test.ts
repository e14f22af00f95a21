import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareNames, type Column, type ColumnBatch } from '../columnar/column-batch.js';
import { StringInterner } from '../columnar/string-interner.js';
import { END_TIME_US, MIN_TIME_US } from '../columnar/time.js';
import { parseLineProtocol, parsePrecision, type LineProtocolResult, type Precision, type RejectedLine } from './line-protocol.js';
import { decodeUtf8 } from './msgpack-reader.js';

const NOW = 1_732_000_000_123_456; // µs
const interner = new StringInterner(decodeUtf8);

type Value = number | bigint | boolean | string | null;
interface Simple {
  m: string;
  time: (number | bigint)[];
  columns: Record<string, [Column['type'], Value[]]>;
  tags: readonly string[] | null;
}

function parse(input: string | Buffer, precision: Precision = 'ns', maxReported?: number, with_ = interner): LineProtocolResult {
  const body = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  return parseLineProtocol(body, { precision, nowMicros: NOW, interner: with_, ...(maxReported === undefined ? {} : { maxReported }) });
}

const exact = (t: bigint): number | bigint => (Number.isSafeInteger(Number(t)) ? Number(t) : t);

function valuesOf(column: Column, n: number): Value[] {
  const out: Value[] = [];
  for (let i = 0; i < n; i++) {
    if (column.valid && !column.valid[i]) out.push(null);
    else if (column.type === 'string') out.push(column.dictionary[column.ids[i]!]!);
    else if (column.type === 'bool') out.push(column.values[i] === 1);
    else out.push(column.values[i]!);
  }
  return out;
}

/** A batch as plain data, after checking the invariants every batch must keep. */
function simple(batch: ColumnBatch): Simple {
  const n = batch.rowCount;
  assert.equal(batch.time.length, n, 'time length');
  const names = batch.columns.map((c) => c.name);
  assert.deepEqual(names, [...batch.columns].sort(compareNames).map((c) => c.name), 'columns sorted by name');
  assert.deepEqual(batch.tagColumns, [...(batch.tagColumns ?? [])].sort(), 'tagColumns sorted');
  const columns: Simple['columns'] = {};
  for (const column of batch.columns) {
    const length = column.type === 'string' ? column.ids.length : column.values.length;
    assert.equal(length, n, `${column.name}: length`);
    const values = valuesOf(column, n);
    assert.equal(column.valid === null, !values.includes(null), `${column.name}: valid is null exactly when there are no NULLs`);
    assert.ok(values.some((v) => v !== null), `${column.name}: a column has at least one value`);
    if (column.type === 'string') assert.equal(new Set(column.dictionary).size, column.dictionary.length, `${column.name}: dictionary has no duplicates`);
    columns[column.name] = [column.type, values];
  }
  return { m: batch.measurement, time: Array.from(batch.time, exact), columns, tags: batch.tagColumns };
}

function check(input: string | Buffer, expected: Simple[], rejected: RejectedLine[] = [], precision: Precision = 'ns'): LineProtocolResult {
  const result = parse(input, precision);
  assert.deepEqual(result.rejectedLines, rejected, 'rejected lines');
  assert.equal(result.rejected, rejected.length);
  assert.deepEqual(result.batches.map(simple), expected);
  assert.equal(result.written, expected.reduce((sum, b) => sum + b.time.length, 0), 'written');
  return result;
}

/** One accepted line: its single row as column → [type, value], and its time. */
function row(line: string, columns: Record<string, [Column['type'], Value]>, time: number | bigint = NOW, precision: Precision = 'ns'): void {
  const result = parse(line, precision);
  assert.deepEqual(result.rejectedLines, [], `rejected: ${line}`);
  assert.equal(result.batches.length, 1);
  const got = simple(result.batches[0]!);
  assert.deepEqual(got.time, [time], `time of ${line}`);
  const want: Simple['columns'] = {};
  for (const [name, [type, value]] of Object.entries(columns)) want[name] = [type, [value]];
  assert.deepEqual(got.columns, want, line);
}

/** One rejected line and its reason (nothing written). */
function rejects(line: string, reason: string, precision: Precision = 'ns'): void {
  const result = parse(line, precision);
  assert.deepEqual(result.rejectedLines, [{ line: 1, reason }], line);
  assert.deepEqual(result.batches, [], `${line}: no batch`);
  assert.equal(result.written, 0);
  assert.equal(result.lines, 1);
}

/** The time of one accepted line (µs). */
function time(line: string, precision: Precision, micros: number | bigint): void {
  const result = parse(line, precision);
  assert.deepEqual(result.rejectedLines, [], line);
  assert.deepEqual(Array.from(result.batches[0]!.time, exact), [micros], `${line} (${precision})`);
}

test('parsePrecision: Influx 2.x and 1.x spellings, ns by default', () => {
  const f = (text: string | undefined, want: Precision | null) => assert.equal(parsePrecision(text), want, String(text));
  f(undefined, 'ns');
  f('', 'ns');
  f('ns', 'ns');
  f('n', 'ns');
  f('us', 'us');
  f('u', 'us');
  f('ms', 'ms');
  f('s', 's');
  f('m', 'm');
  f('h', 'h');
  f('NS', null);
  f('µs', null);
  f('mss', null);
  f('d', null);
});

test('a line becomes a row: tags as VARCHAR, fields typed, time in µs', () => {
  check('cpu,host=a,region=eu value=1.5,n=3i,ok=t,s="x" 1700000000123456789\n', [
    {
      m: 'cpu',
      time: [1700000000123456],
      columns: {
        host: ['string', ['a']],
        n: ['int64', [3n]],
        ok: ['bool', [true]],
        region: ['string', ['eu']],
        s: ['string', ['x']],
        value: ['float64', [1.5]],
      },
      tags: ['host', 'region'],
    },
  ]);
});

test('rows of a measurement share one batch; absent values are NULL; batches in first-seen order', () => {
  check('cpu,host=a v=1 1000\nmem free=5i 2000\ncpu,host=b w=2 3000\ncpu v=3 4000\n', [
    {
      m: 'cpu',
      time: [1, 3, 4],
      columns: { host: ['string', ['a', 'b', null]], v: ['float64', [1, null, 3]], w: ['float64', [null, 2, null]] },
      tags: ['host'],
    },
    { m: 'mem', time: [2], columns: { free: ['int64', [5n]] }, tags: [] },
  ]);
});

test('blank lines, comments, CRLF, leading and trailing blanks', () => {
  const result = check('\n \t\n# a comment\n   # indented comment\r\n  cpu v=1 1000\r\ncpu v=2 2000   \r\n\tcpu v=3\r\n\r\n', [
    { m: 'cpu', time: [1, 2, NOW], columns: { v: ['float64', [1, 2, 3]] }, tags: [] },
  ]);
  assert.equal(result.lines, 3);
  check('cpu v=1', [{ m: 'cpu', time: [NOW], columns: { v: ['float64', [1]] }, tags: [] }]); // no final newline
  check('cpu v=1  \t 1000', [{ m: 'cpu', time: [1], columns: { v: ['float64', [1]] }, tags: [] }]); // runs of blanks
  check('cpu,t=a   v=1', [{ m: 'cpu', time: [NOW], columns: { t: ['string', ['a']], v: ['float64', [1]] }, tags: ['t'] }]);
  const empty = parse('');
  assert.deepEqual([empty.lines, empty.written, empty.batches.length], [0, 0, 0]);
  assert.equal(parse('\n\n# only comments\n').lines, 0);
});

test('rejected lines: numbered from 1 counting every physical line; the others are kept', () => {
  const result = check(
    '# header\n\ncpu v=1 1000\ncpu v=oops\ncpu\r\ncpu v=2 2000\n,x=1 v=1\n',
    [{ m: 'cpu', time: [1, 2], columns: { v: ['float64', [1, 2]] }, tags: [] }],
    [
      { line: 4, reason: 'invalid number "oops"' },
      { line: 5, reason: 'missing field set' },
      { line: 7, reason: 'missing measurement' },
    ],
  );
  assert.equal(result.lines, 5);
});

test('maxReported limits the list, not the count', () => {
  const result = parse('a v=x\n'.repeat(5) + 'a v=1\n', 'ns', 2);
  assert.equal(result.rejected, 5);
  assert.deepEqual(result.rejectedLines, [
    { line: 1, reason: 'invalid number "x"' },
    { line: 2, reason: 'invalid number "x"' },
  ]);
  assert.equal(result.written, 1);
  assert.equal(parse('a v=x\n'.repeat(150)).rejectedLines.length, 100);
});

test('float field values, read exactly as Number() reads them', () => {
  const f = (text: string, want: number) => row(`m f=${text}`, { f: ['float64', want] });
  f('1', 1);
  f('-1.5', -1.5);
  f('1e3', 1000);
  f('1E3', 1000);
  f('1.5E-3', 0.0015);
  f('1e+2', 100);
  f('.5', 0.5);
  f('5.', 5);
  f('-.5', -0.5);
  f('0', 0);
  f('007', 7);
  f('0.1', 0.1);
  f('0.30000000000000004', 0.30000000000000004);
  f('12.3456', 12.3456);
  f('123456789012345678', 123456789012345678);
  f('9007199254740993', 9007199254740992);
  f('1.7976931348623157e308', 1.7976931348623157e308);
  f('4.9e-324', 5e-324);
  f('1e-400', 0);
  f('2.2250738585072011e-308', 2.2250738585072011e-308);
  f('123456.789e-5', 1.23456789);
  f('0.000000000000000000000000001', 1e-27);
  f('1e22', 1e22);
  f('1e23', 1e23);
  f('-0', -0);
});

test('invalid numbers: NaN and Inf are not numbers in InfluxDB', () => {
  rejects('m f=NaN', 'invalid number "NaN"');
  rejects('m f=nan', 'invalid number "nan"');
  rejects('m f=Inf', 'invalid number "Inf"');
  rejects('m f=-Inf', 'invalid number "-Inf"');
  rejects('m f=inf', 'invalid number "inf"');
  rejects('m f=+1', 'invalid number "+1"');
  rejects('m f=abc', 'invalid number "abc"');
  rejects('m f=-', 'invalid number "-"');
  rejects('m f=.', 'invalid number "."');
  rejects('m f=1.2.3', 'invalid number "1.2.3"');
  rejects('m f=1e', 'invalid number "1e"');
  rejects('m f=1e+', 'invalid number "1e+"');
  rejects('m f=1x,g=2', 'invalid number "1x"');
  rejects('m f=0x10', 'invalid number "0x10"');
  rejects('m f=1_000', 'invalid number "1_000"');
  rejects('m f=1e400', 'invalid number "1e400": out of range');
  rejects('m f=-1e400', 'invalid number "-1e400": out of range');
  rejects('m f=12ix', 'invalid number "12ix"');
  rejects('m f=1\tx', 'invalid number "1\\tx"');
});

test('integers (i) and unsigned integers (u) are BIGINT', () => {
  const f = (text: string, want: bigint) => row(`m f=${text}`, { f: ['int64', want] });
  f('-12i', -12n);
  f('0i', 0n);
  f('-0i', 0n);
  f('007i', 7n);
  f('123456789012345i', 123456789012345n);
  f('9007199254740993i', 9007199254740993n);
  f('9223372036854775807i', 9223372036854775807n);
  f('-9223372036854775808i', -9223372036854775808n);
  f('12u', 12n);
  f('0u', 0n);
  f('9223372036854775807u', 9223372036854775807n);
  rejects('m f=9223372036854775808i', 'invalid integer "9223372036854775808i": out of range');
  rejects('m f=-9223372036854775809i', 'invalid integer "-9223372036854775809i": out of range');
  rejects('m f=1.5i', 'invalid integer "1.5i"');
  rejects('m f=1e3i', 'invalid integer "1e3i"');
  rejects('m f=-i', 'invalid integer "-i"');
  rejects('m f=i', 'invalid number "i"');
  rejects('m f=1ii', 'invalid integer "1ii"');
  rejects('m f=9223372036854775808u', 'unsigned value 9223372036854775808 is out of range (max 9223372036854775807)');
  rejects('m f=18446744073709551615u', 'unsigned value 18446744073709551615 is out of range (max 9223372036854775807)');
  rejects('m f=-1u', 'invalid unsigned integer "-1u"');
  rejects('m f=1.5u', 'invalid unsigned integer "1.5u"');
  rejects('m f=1iu', 'invalid unsigned integer "1iu"');
});

test('booleans: exactly InfluxDB’s spellings', () => {
  for (const text of ['t', 'T', 'true', 'True', 'TRUE']) row(`m b=${text}`, { b: ['bool', true] });
  for (const text of ['f', 'F', 'false', 'False', 'FALSE']) row(`m b=${text}`, { b: ['bool', false] });
  rejects('m b=tru', 'invalid boolean "tru"');
  rejects('m b=tRuE', 'invalid boolean "tRuE"');
  rejects('m b=fals', 'invalid boolean "fals"');
  rejects('m b=falsey', 'invalid boolean "falsey"');
  rejects('m b=Truth', 'invalid boolean "Truth"');
  rejects('m b=yes', 'invalid number "yes"');
  rejects('m b=on', 'invalid number "on"');
});

test('string fields: quotes, escapes, separators inside; newline always ends the line', () => {
  const f = (text: string, want: string) => row(`m s=${text}`, { s: ['string', want] });
  f('""', '');
  f('"hello world"', 'hello world');
  f('"a,b=c d"', 'a,b=c d');
  f('"say \\"hi\\""', 'say "hi"');
  f('"back\\\\slash"', 'back\\slash');
  f('"ends with \\\\"', 'ends with \\');
  f('"kept \\n \\t \\, \\= \\ verbatim"', 'kept \\n \\t \\, \\= \\ verbatim');
  f('"日本語 ✓"', '日本語 ✓');
  f('"\uFEFFbom"', '\uFEFFbom');
  f('"t"', 't');
  f('"1i"', '1i');
  row('m s="a b",n=1 1000', { s: ['string', 'a b'], n: ['float64', 1] }, 1);
  rejects('m s="abc', 'unterminated string');
  rejects('m s="abc\\"', 'unterminated string');
  rejects('m s="a"b', 'unexpected text after string: "b"');
  check('m s="abc\nm s="x" 1000\n', [{ m: 'm', time: [1], columns: { s: ['string', ['x']] }, tags: [] }], [
    { line: 1, reason: 'unterminated string' },
  ]);
});

test('missing parts', () => {
  rejects('cpu', 'missing field set');
  rejects('cpu   ', 'missing field set');
  rejects('cpu,host=a', 'missing field set');
  rejects('cpu,host=a ', 'missing field set');
  rejects(',host=a v=1', 'missing measurement');
  rejects('cpu,=a v=1', 'missing tag key');
  rejects('cpu, v=1', 'missing tag key');
  rejects('cpu,,a=1 v=1', 'missing tag key');
  rejects('cpu,host v=1', 'missing tag value');
  rejects('cpu,host,a=1 v=1', 'missing tag value');
  rejects('cpu,host= v=1', 'missing tag value');
  rejects('cpu,host=,a=1 v=1', 'missing tag value');
  rejects('cpu,host=a=b v=1', 'invalid tag value "a=b": unescaped "="');
  rejects('cpu =1', 'missing field key');
  rejects('cpu v=1,', 'missing field key');
  rejects('cpu v=1,,w=2', 'missing field key');
  rejects('cpu v=1,=2', 'missing field key');
  rejects('cpu v', 'missing field value');
  rejects('cpu v,w=1', 'missing field value');
  rejects('cpu v=', 'missing field value');
  rejects('cpu v=,w=1', 'missing field value');
  rejects('cpu v= 1000', 'missing field value');
});

test('timestamps: signed integers in the precision; trailing text is an error', () => {
  rejects('m v=1 12.5', 'invalid timestamp "12.5"');
  rejects('m v=1 x', 'invalid timestamp "x"');
  rejects('m v=1 1e9', 'invalid timestamp "1e9"');
  rejects('m v=1 +5', 'invalid timestamp "+5"');
  rejects('m v=1 -', 'invalid timestamp "-"');
  rejects('m v=1 --5', 'invalid timestamp "--5"');
  rejects('m v=1 w=2', 'invalid timestamp "w=2"');
  rejects('m v=1 123 456', 'unexpected text after timestamp: "456"');
  rejects('m v=1 123x', 'invalid timestamp "123x"');
  rejects('m v=1 1000\t2000', 'unexpected text after timestamp: "2000"');
});

test('precision: exact conversion to µs (ns truncate toward zero), range [year 1, year 10000)', () => {
  time('m v=1 1700000000123456789', 'ns', 1700000000123456);
  time('m v=1 1732431234567890123', 'ns', 1732431234567890);
  time('m v=1 -1500', 'ns', -1);
  time('m v=1 -1', 'ns', 0);
  time('m v=1 999', 'ns', 0);
  time('m v=1 0', 'ns', 0);
  time('m v=1 -1700000000123456789', 'ns', -1700000000123456);
  time('m v=1 9223372036854775807', 'ns', 9223372036854775n);
  time('m v=1 -9223372036854775808', 'ns', -9223372036854775n);
  time('m v=1 9007199254740991999', 'ns', 9007199254740991);
  time('m v=1 9007199254740992999', 'ns', 9007199254740992n);
  time('m v=1 9007199254740993999', 'ns', 9007199254740993n);
  time('m v=1 0009007199254740993999', 'ns', 9007199254740993n);
  rejects('m v=1 9223372036854775808', 'timestamp out of range');
  rejects('m v=1 -9223372036854775809', 'timestamp out of range');
  rejects('m v=1 99999999999999999999999', 'timestamp out of range');
  time('m v=1 1700000000123456', 'us', 1700000000123456);
  time('m v=1 -5', 'us', -5);
  time('m v=1 253402300799999999', 'us', 253402300799999999n);
  time('m v=1 9007199254740993', 'us', 9007199254740993n);
  rejects('m v=1 253402300800000000', 'timestamp out of range', 'us');
  time(`m v=1 ${MIN_TIME_US}`, 'us', BigInt(MIN_TIME_US));
  rejects(`m v=1 ${BigInt(MIN_TIME_US) - 1n}`, 'timestamp out of range', 'us');
  time('m v=1 1700000000123', 'ms', 1700000000123000);
  time('m v=1 -1700000000123', 'ms', -1700000000123000);
  time('m v=1 253402300799999', 'ms', 253402300799999000n);
  rejects('m v=1 253402300800000', 'timestamp out of range', 'ms');
  time('m v=1 1700000000', 's', 1700000000000000);
  time('m v=1 -62135596800', 's', BigInt(MIN_TIME_US));
  rejects('m v=1 -62135596801', 'timestamp out of range', 's');
  rejects(`m v=1 ${END_TIME_US / 1e6}`, 'timestamp out of range', 's');
  time('m v=1 253402300799', 's', 253402300799000000n);
  time('m v=1 28333333', 'm', 1699999980000000);
  time('m v=1 -1', 'm', -60000000);
  time('m v=1 472222', 'h', 1699999200000000);
  time('m v=1 70389527', 'h', 253402297200000000n);
  rejects('m v=1 70389528', 'timestamp out of range', 'h');
  rejects('m v=1 9999999999999999999999', 'timestamp out of range', 's');
  // A missing timestamp is the request's now, for every line alike.
  check('m v=1\nm v=2\n', [{ m: 'm', time: [NOW, NOW], columns: { v: ['float64', [1, 2]] }, tags: [] }]);
});

test('escapes in the measurement: only \\, \\space and \\\\ (and names must match the MessagePack rule)', () => {
  rejects('my\\ cpu v=1', 'invalid measurement name "my cpu"');
  rejects('cpu\\,x v=1', 'invalid measurement name "cpu,x"');
  rejects('c\\\\pu v=1', 'invalid measurement name "c\\\\pu"');
  rejects('cpu\\=x v=1', 'invalid measurement name "cpu\\\\=x"');
  rejects('cpu\\"x v=1', 'invalid measurement name "cpu\\\\\\"x"');
  rejects('cpu\\ ,t=a v=1', 'invalid measurement name "cpu "');
});

test('escapes in tag keys, tag values and field keys: \\, \\= \\space \\\\; others verbatim', () => {
  row('m,a\\ b=1,c\\,d=2,e\\=f=3,g\\\\h=4,i\\xj=5 v=1', {
    'a b': ['string', '1'],
    'c,d': ['string', '2'],
    'e=f': ['string', '3'],
    'g\\h': ['string', '4'],
    'i\\xj': ['string', '5'],
    v: ['float64', 1],
  });
  row('m,t=a\\ b\\,c\\=d\\\\e\\nf v=1', { t: ['string', 'a b,c=d\\e\\nf'], v: ['float64', 1] });
  row('m,t=x\\  v=1', { t: ['string', 'x '], v: ['float64', 1] });
  row('m a\\ b=1,c\\,d=2,e\\=f=3,g\\\\h=4,i\\"j=5', {
    'a b': ['float64', 1],
    'c,d': ['float64', 2],
    'e=f': ['float64', 3],
    'g\\h': ['float64', 4],
    'i\\"j': ['float64', 5],
  });
  row('m,t="q v=1', { t: ['string', '"q'], v: ['float64', 1] }); // a quote in a tag is just a byte
  // With a backslash anywhere in the body, every line takes the copying path; results are the same.
  check('m,host=a v=1 1000\nm,host=b v=2 2000\nm,host=c\\ d v=3 3000\nm,host=a v=4 4000\n', [
    { m: 'm', time: [1, 2, 3, 4], columns: { host: ['string', ['a', 'b', 'c d', 'a']], v: ['float64', [1, 2, 3, 4]] }, tags: ['host'] },
  ]);
});

test('strings are byte-exact UTF-8; a leading BOM is kept', () => {
  row('m,t=\uFEFFabc v=1', { t: ['string', '\uFEFFabc'], v: ['float64', 1] });
  row('m,città=Zürich s="日本"', { città: ['string', 'Zürich'], s: ['string', '日本'] });
  row('m,t=😀 v=1', { t: ['string', '😀'], v: ['float64', 1] });
  const result = parse(Buffer.concat([Buffer.from('m,t='), Buffer.from([0xff, 0x41]), Buffer.from(' v=1')]));
  assert.deepEqual(valuesOf(result.batches[0]!.columns[0]!, 1), ['\uFFFDA']);
});

test('types per column: the first value decides; integers and floats widen to DOUBLE', () => {
  check('m v=1i\nm v=2.5\nm v=9007199254740993i\nm v=-3i\n', [
    { m: 'm', time: [NOW, NOW, NOW, NOW], columns: { v: ['float64', [1, 2.5, 9007199254740992, -3]] }, tags: [] },
  ]);
  check('m v=9007199254740993i\nm w=1\nm v=0.5\n', [
    { m: 'm', time: [NOW, NOW, NOW], columns: { v: ['float64', [9007199254740992, null, 0.5]], w: ['float64', [null, 1, null]] }, tags: [] },
  ]);
  check('m v=1.5\nm v=2i\nm v=3u\n', [{ m: 'm', time: [NOW, NOW, NOW], columns: { v: ['float64', [1.5, 2, 3]] }, tags: [] }]);
  check('m v=1i\nm v=2u\n', [{ m: 'm', time: [NOW, NOW], columns: { v: ['int64', [1n, 2n]] }, tags: [] }]);
  // Each measurement types its own columns.
  check('a v=1i\nb v="x"\n', [
    { m: 'a', time: [NOW], columns: { v: ['int64', [1n]] }, tags: [] },
    { m: 'b', time: [NOW], columns: { v: ['string', ['x']] }, tags: [] },
  ]);
});

test('type conflicts reject the later line', () => {
  const c = (input: string, reason: string) => {
    const result = parse(input);
    assert.deepEqual(result.rejectedLines, [{ line: 2, reason }], input);
    assert.equal(result.written, 1);
  };
  c('m v="a"\nm v=1', 'type conflict in field "v": float value, but earlier lines gave string');
  c('m v=1\nm v="a"', 'type conflict in field "v": string value, but earlier lines gave float');
  c('m v=1i\nm v=t', 'type conflict in field "v": boolean value, but earlier lines gave integer');
  c('m v=t\nm v=1i', 'type conflict in field "v": integer value, but earlier lines gave boolean');
  c('m v=t\nm v="t"', 'type conflict in field "v": string value, but earlier lines gave boolean');
  c('m,host=a v=1\nm host=2', 'type conflict in field "host": earlier lines have a tag of that name');
  c('m host=2\nm,host=a v=1', 'type conflict in tag "host": earlier lines have a field of that name');
  c('m,host=a host=1\nm,host_value=b v=1', 'type conflict in tag "host_value": earlier lines have a field of that name');
});

test('a rejected line leaves no trace: no row, no column, no type, no batch', () => {
  check('m a=1\nm a=2,b="x",c=bad\nm a=3\n', [{ m: 'm', time: [NOW, NOW], columns: { a: ['float64', [1, 3]] }, tags: [] }], [
    { line: 2, reason: 'invalid number "bad"' },
  ]);
  // Line 2 would have made b an integer column; it is rejected, so line 3 types it.
  check('m a=1\nm,t=x b=1i,c=tru\nm b="s"\n', [
    { m: 'm', time: [NOW, NOW], columns: { a: ['float64', [1, null]], b: ['string', [null, 's']] }, tags: [] },
  ], [{ line: 2, reason: 'invalid boolean "tru"' }]);
  // A type conflict found late in the line: the new tag and field of that line vanish too.
  check('m v=1\nm,t=x n=1i,v="s"\nm v=2\n', [{ m: 'm', time: [NOW, NOW], columns: { v: ['float64', [1, 2]] }, tags: [] }], [
    { line: 2, reason: 'type conflict in field "v": string value, but earlier lines gave float' },
  ]);
  // Measurements seen only in rejected lines have no batch; batch order is by first accepted line.
  check('x v=bad\ny v=1\nx v=2\n', [
    { m: 'y', time: [NOW], columns: { v: ['float64', [1]] }, tags: [] },
    { m: 'x', time: [NOW], columns: { v: ['float64', [2]] }, tags: [] },
  ], [{ line: 1, reason: 'invalid number "bad"' }]);
  // Tag values of rejected lines do not reach the dictionary.
  const result = parse('m,t=a v=1\nm,t=b v=x\nm,t=c v=2\n');
  assert.deepEqual((result.batches[0]!.columns[0] as { dictionary: string[] }).dictionary, ['a', 'c']);
});

test('a field named like a tag of its line is stored as <name>_value', () => {
  row('m,host=a host=1', { host: ['string', 'a'], host_value: ['float64', 1] });
  const result = parse('m,host=a host=1\nm host_value=2\nm,host=b v=1\n');
  assert.deepEqual(result.batches.map(simple), [
    {
      m: 'm',
      time: [NOW, NOW, NOW],
      columns: { host: ['string', ['a', null, 'b']], host_value: ['float64', [1, 2, null]], v: ['float64', [null, null, 1]] },
      tags: ['host'],
    },
  ]);
});

test('duplicate fields and tags in a line: the last wins', () => {
  row('m v=1,v=2', { v: ['float64', 2] });
  row('m v=1i,v="x"', { v: ['string', 'x'] });
  row('m,t=a,t=b v=1', { t: ['string', 'b'], v: ['float64', 1] });
  check('m v=1i\nm v="x",v=2i\n', [{ m: 'm', time: [NOW, NOW], columns: { v: ['int64', [1n, 2n]] }, tags: [] }]);
  row('m,host=a host=1,host_value=2', { host: ['string', 'a'], host_value: ['float64', 2] });
});

test('time and case collisions', () => {
  rejects('m,time=1 v=1', 'tag "time" collides with the time column');
  rejects('m time=1', 'field "time" collides with the time column');
  rejects('m Time=1', 'field "Time" collides with the time column');
  rejects('m,TIME=x v=1', 'tag "TIME" collides with the time column');
  rejects('m Value=1,value=2', 'columns "Value" and "value" differ only in case');
  rejects('m,Host=a host=1', 'columns "Host" and "host" differ only in case');
  check('m Value=1\nm value=2\nm Value=3\n', [{ m: 'm', time: [NOW, NOW], columns: { Value: ['float64', [1, 3]] }, tags: [] }], [
    { line: 2, reason: 'columns "Value" and "value" differ only in case' },
  ]);
  const long = 'k'.repeat(256);
  rejects(`m ${long}=1`, `field name "${'k'.repeat(64)}…" is longer than 255 characters`);
  row(`m ${'k'.repeat(255)}=1`, { ['k'.repeat(255)]: ['float64', 1] });
});

test('measurement names: ^[a-zA-Z][a-zA-Z0-9_-]*$, 1 to 128 characters', () => {
  row('cpu-1_X v=1', { v: ['float64', 1] });
  row(`${'a'.repeat(128)} v=1`, { v: ['float64', 1] });
  rejects(`${'a'.repeat(129)} v=1`, `invalid measurement name "${'a'.repeat(64)}…"`);
  rejects('1cpu v=1', 'invalid measurement name "1cpu"');
  rejects('_cpu v=1', 'invalid measurement name "_cpu"');
  rejects('cpu.load v=1', 'invalid measurement name "cpu.load"');
  rejects('cpü v=1', 'invalid measurement name "cpü"');
  rejects('cpu=1 v=1', 'invalid measurement name "cpu=1"');
});

test('changing key order, prefixes of names, and alternating measurements', () => {
  check('m a=1,b=2\nm b=3,a=4\nm ab=5\nm a=6\nmm a=7\nm,t=x a=8\nmm a=9\nm,tt=y a=10\n', [
    {
      m: 'm',
      time: Array(6).fill(NOW),
      columns: {
        a: ['float64', [1, 4, null, 6, 8, 10]],
        ab: ['float64', [null, null, 5, null, null, null]],
        b: ['float64', [2, 3, null, null, null, null]],
        t: ['string', [null, null, null, null, 'x', null]],
        tt: ['string', [null, null, null, null, null, 'y']],
      },
      tags: ['t', 'tt'],
    },
    { m: 'mm', time: [NOW, NOW], columns: { a: ['float64', [7, 9]] }, tags: [] },
  ]);
});

test('string dictionaries: first-seen order, shared values across columns, NULL ids are 0', () => {
  const result = parse('m,a=x,b=x v=1\nm,a=y,b=x s="x"\nm,b=y v=2\nm,a=x,b=z s="y"\n');
  const [a, b, s] = result.batches[0]!.columns as { name: string; ids: Uint32Array; dictionary: string[]; valid: Uint8Array | null }[];
  assert.deepEqual([a!.name, Array.from(a!.ids), a!.dictionary], ['a', [0, 1, 0, 0], ['x', 'y']]);
  assert.deepEqual([b!.name, Array.from(b!.ids), b!.dictionary], ['b', [0, 0, 1, 2], ['x', 'y', 'z']]);
  assert.deepEqual([s!.name, Array.from(s!.ids), s!.dictionary], ['s', [0, 0, 0, 1], ['x', 'y']]);
  assert.deepEqual(Array.from(a!.valid!), [1, 1, 0, 1]);
});

test('the interner is reused across requests, and a full interner still dedupes', () => {
  const body = 'm,host=a v=1\nm,host=b v=2\nm,host=a v=3\n';
  const first = parse(body).batches.map(simple);
  assert.deepEqual(parse(body).batches.map(simple), first);
  const tiny = new StringInterner(decodeUtf8, 2, 1 << 20); // refuses new strings after 4
  const lines = Array.from({ length: 30 }, (_, i) => `m,t=v${i % 10} s="w${i % 7}"`).join('\n');
  for (let round = 0; round < 2; round++) {
    const result = parse(lines, 'ns', undefined, tiny);
    const t = result.batches[0]!.columns.find((c) => c.name === 't')!;
    const s = result.batches[0]!.columns.find((c) => c.name === 's')!;
    assert.deepEqual(valuesOf(t, 30), Array.from({ length: 30 }, (_, i) => `v${i % 10}`));
    assert.deepEqual(valuesOf(s, 30), Array.from({ length: 30 }, (_, i) => `w${i % 7}`));
    assert.equal((t as { dictionary: string[] }).dictionary.length, 10);
  }
});

test('many tags and fields in one line (staging grows)', () => {
  const tags = Array.from({ length: 40 }, (_, i) => `t${i}=v${i}`).join(',');
  const fields = Array.from({ length: 70 }, (_, i) => `f${i}=${i}i`).join(',');
  const result = parse(`m,${tags} ${fields} 5000\nm,${tags} ${fields} 6000\n`);
  assert.deepEqual(result.rejectedLines, []);
  const batch = simple(result.batches[0]!);
  assert.equal(Object.keys(batch.columns).length, 110);
  assert.deepEqual(batch.columns.t39, ['string', ['v39', 'v39']]);
  assert.deepEqual(batch.columns.f69, ['int64', [69n, 69n]]);
  assert.deepEqual(batch.time, [5, 6]);
});

test('large bodies: arrays grow past their first guess', () => {
  const n = 20000;
  const body = Array.from({ length: n }, (_, i) => `m,h=h${i % 37} v=${i}i,w=${i / 4} ${i}000`).join('\n');
  const result = parse(body);
  assert.equal(result.written, n);
  const batch = result.batches[0]!;
  assert.equal(batch.rowCount, n);
  assert.equal(batch.time[n - 1], BigInt(n - 1));
  const v = batch.columns.find((c) => c.name === 'v')!;
  assert.equal(v.type === 'int64' && v.values[n - 1], BigInt(n - 1));
  const w = batch.columns.find((c) => c.name === 'w')!;
  assert.equal(w.type === 'float64' && w.values[12345], 12345 / 4);
});

/** xorshift32, so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

const escapeKey = (s: string) => s.replace(/[\\,= ]/g, (c) => `\\${c}`);
const escapeString = (s: string) => s.replace(/[\\"]/g, (c) => `\\${c}`);

test('random valid lines round-trip: rows, values, NULLs and times', () => {
  for (const [seed, withEscapes] of [
    [1, false],
    [2, true],
    [3, false],
    [4, true],
  ] as const) {
    const random = prng(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const measurements = ['cpu', 'mem', 'disk'];
    const tagValues = withEscapes ? ['a', 'b c', 'd,e', 'f=g', 'h\\i', '\uFEFFbom', 'ü'] : ['a', 'server001', 'server002', 'ü', 'x"y'];
    const tagKeys = withEscapes ? ['host', 'region name', 'k,1'] : ['host', 'region', 'dc'];
    const fieldTypes: Record<string, 'float' | 'int' | 'bool' | 'string'> = { f1: 'float', f2: 'float', i1: 'int', b1: 'bool', s1: 'string' };
    if (withEscapes) fieldTypes['f 3'] = 'float';
    type Row = { time: number | bigint; values: Record<string, Value> };
    const model = new Map<string, Row[]>();
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const m = pick(measurements);
      const values: Record<string, Value> = {};
      let line = m;
      for (const key of tagKeys) {
        if (random() < 0.7) {
          const value = pick(tagValues);
          line += `,${escapeKey(key)}=${escapeKey(value)}`;
          values[key] = value;
        }
      }
      const fields: string[] = [];
      for (const [key, type] of Object.entries(fieldTypes)) {
        if (random() < 0.6 || (fields.length === 0 && key === 's1')) {
          let text: string;
          let value: Value;
          if (type === 'float') {
            const x = (random() - 0.5) * 10 ** Math.floor(random() * 30 - 10);
            const style = Math.floor(random() * 4);
            text = style === 0 ? String(x) : style === 1 ? x.toExponential(Math.floor(random() * 17)) : style === 2 ? x.toFixed(Math.floor(random() * 8)) : x.toPrecision(1 + Math.floor(random() * 20));
            if (!/[.eE]/.test(text) && random() < 0.5) text += '.';
            value = Number(text);
          } else if (type === 'int') {
            const x = BigInt(Math.floor((random() - 0.5) * 2 ** 53)) * BigInt(1 + Math.floor(random() * 1000));
            const clamped = x > 9223372036854775807n ? 9223372036854775807n : x < -9223372036854775808n ? -9223372036854775808n : x;
            text = `${clamped}i`;
            value = clamped;
          } else if (type === 'bool') {
            text = pick(['t', 'T', 'true', 'True', 'TRUE', 'f', 'F', 'false', 'False', 'FALSE']);
            value = 'tT'.includes(text[0]!);
          } else {
            const s = pick(['', 'plain', 'with space, comma = equals', withEscapes ? 'quote " and \\ backslash' : 'no escapes', '日本', '\uFEFF']);
            text = `"${escapeString(s)}"`;
            value = s;
          }
          fields.push(`${escapeKey(key)}=${text}`);
          values[tagKeys.includes(key) ? `${key}_value` : key] = value;
        }
      }
      line += ` ${fields.join(',')}`;
      let t: number | bigint = NOW;
      if (random() < 0.8) {
        const ns = BigInt(Math.floor(random() * 2 ** 53)) * 1000n + BigInt(Math.floor(random() * 1000)) - (random() < 0.1 ? 2n ** 62n : 0n);
        line += ` ${ns}`;
        t = exact(ns / 1000n);
      }
      if (random() < 0.1) line += '\r';
      lines.push(line);
      if (random() < 0.05) lines.push(random() < 0.5 ? '# comment' : '');
      const rows = model.get(m) ?? [];
      rows.push({ time: t, values });
      model.set(m, rows);
    }
    const result = parse(lines.join('\n'));
    assert.deepEqual(result.rejectedLines, [], `seed ${seed}`);
    assert.equal(result.lines, 3000);
    assert.equal(result.written, 3000);
    for (const batch of result.batches) {
      const rows = model.get(batch.measurement)!;
      const got = simple(batch);
      assert.deepEqual(got.time, rows.map((r) => r.time), `seed ${seed}: time of ${batch.measurement}`);
      for (const [name, [type, values]] of Object.entries(got.columns)) {
        const want = rows.map((r) => (name in r.values ? r.values[name]! : null));
        const expectedType = tagKeys.includes(name) ? 'string' : { float: 'float64', int: 'int64', bool: 'bool', string: 'string' }[fieldTypes[name]!];
        assert.equal(type, expectedType, `seed ${seed}: type of ${name}`);
        assert.deepEqual(values, want, `seed ${seed}: ${batch.measurement}.${name}`);
      }
      assert.deepEqual(got.tags, tagKeys.filter((k) => k in got.columns).sort());
    }
    assert.equal(result.batches.length, model.size);
  }
});
