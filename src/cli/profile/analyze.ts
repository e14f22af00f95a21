/**
 * Turns V8 profiles of the server's threads into the answer to "where did the time go": shares
 * per pipeline stage and the hottest functions. A sample belongs to the stage of the deepest
 * arc-ts frame on its stack (src/ingest → decode, src/buffer → buffer append, …), refined by
 * what runs at the leaf (fs calls are file I/O, zlib is decompression, node:_http* is HTTP).
 */

export const STAGES = ['HTTP parsing', 'decompression', 'decode', 'buffer append', 'flush/encode', 'file I/O', 'GC', 'idle', 'other'] as const;
export type Stage = (typeof STAGES)[number];

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber?: number;
}

export interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface HeapProfileNode {
  id: number;
  callFrame: CallFrame;
  selfSize: number;
  children: HeapProfileNode[];
}

export interface HeapProfile {
  head: HeapProfileNode;
}

export interface NamedProfile<T> {
  name: string;
  profile: T;
}

export interface StageRow {
  stage: Stage;
  /** µs for CPU profiles, bytes for heap profiles. */
  value: number;
  percent: number;
  byThread: Record<string, number>;
}

export interface FunctionRow {
  name: string;
  location: string;
  value: number;
  percent: number;
  stage: Stage;
}

export interface Analysis {
  unit: 'us' | 'bytes';
  total: number;
  threads: Record<string, number>;
  stages: StageRow[];
  top: FunctionRow[];
}

/** A call tree normalised from either profile kind: self value per node, parent links. */
export interface TreeNode {
  frame: CallFrame;
  self: number;
  children: TreeNode[];
  parent: TreeNode | null;
}

export function cpuTree(profile: CpuProfile): TreeNode {
  const byId = new Map<number, TreeNode>();
  for (const node of profile.nodes) byId.set(node.id, { frame: node.callFrame, self: 0, children: [], parent: null });
  for (const node of profile.nodes) {
    const parent = byId.get(node.id)!;
    for (const child of node.children ?? []) {
      const tree = byId.get(child)!;
      tree.parent = parent;
      parent.children.push(tree);
    }
  }
  for (let i = 0; i < profile.samples.length; i++) byId.get(profile.samples[i]!)!.self += profile.timeDeltas[i] ?? 0;
  return byId.get(profile.nodes[0]!.id)!;
}

export function heapTree(profile: HeapProfile): TreeNode {
  const convert = (node: HeapProfileNode, parent: TreeNode | null): TreeNode => {
    const tree: TreeNode = { frame: node.callFrame, self: node.selfSize, children: [], parent };
    tree.children = node.children.map((child) => convert(child, tree));
    return tree;
  };
  return convert(profile.head, null);
}

export function analyze(threads: Array<NamedProfile<TreeNode>>, unit: Analysis['unit']): Analysis {
  const stageTotals = new Map<Stage, StageRow>(STAGES.map((stage) => [stage, { stage, value: 0, percent: 0, byThread: {} }]));
  const functions = new Map<string, FunctionRow>();
  const threadTotals: Record<string, number> = {};
  let total = 0;
  for (const { name, profile: root } of threads) {
    threadTotals[name] = 0;
    walk(root, null, (node, owner) => {
      if (node.self === 0) return;
      const stage = classify(node, owner);
      const row = stageTotals.get(stage)!;
      row.value += node.self;
      row.byThread[name] = (row.byThread[name] ?? 0) + node.self;
      threadTotals[name]! += node.self;
      total += node.self;
      if (stage === 'idle') return;
      const location = `${shortUrl(node.frame.url)}:${node.frame.lineNumber + 1}`;
      const key = `${node.frame.functionName}@${location}`;
      let fn = functions.get(key);
      if (!fn) functions.set(key, (fn = { name: node.frame.functionName || '(anonymous)', location, value: 0, percent: 0, stage }));
      fn.value += node.self;
    });
  }
  const stages = [...stageTotals.values()];
  for (const row of stages) row.percent = total > 0 ? (100 * row.value) / total : 0;
  const top = [...functions.values()].sort((a, b) => b.value - a.value).slice(0, 20);
  for (const row of top) row.percent = total > 0 ? (100 * row.value) / total : 0;
  return { unit, total, threads: threadTotals, stages, top };
}

/** Visits every node with the deepest arc-ts frame on its path (itself included), root first. */
function walk(node: TreeNode, owner: TreeNode | null, visit: (node: TreeNode, owner: TreeNode | null) => void): void {
  const stack: Array<[TreeNode, TreeNode | null]> = [[node, owner]];
  while (stack.length > 0) {
    const [current, inherited] = stack.pop()!;
    const own = areaOf(current.frame) !== null ? current : inherited;
    visit(current, own);
    for (const child of current.children) stack.push([child, own]);
  }
}

type Area = 'ingest' | 'buffer' | 'storage' | 'decompress' | 'server' | 'other-own';

/** Which part of arc-ts a frame belongs to, or null for Node, V8 and libraries. */
export function areaOf(frame: CallFrame): Area | null {
  const url = frame.url;
  const at = url.indexOf('/dist/src/');
  if (at < 0) return null;
  const file = url.slice(at + '/dist/src/'.length);
  if (file.startsWith('ingest/') || file.startsWith('columnar/')) return 'ingest';
  if (file.startsWith('buffer/')) return 'buffer';
  if (file.startsWith('storage/') || file.startsWith('duckdb/')) return 'storage';
  if (file === 'server/body.js' && /decompress|gunzip|unzstd|declaredZstdSize/.test(frame.functionName)) return 'decompress';
  if (file.startsWith('server/')) return 'server';
  return 'other-own';
}

const FS_NATIVE = new Set(['fsync', 'fdatasync', 'open', 'close', 'writeBuffers', 'writeBuffer', 'writeString', 'link', 'unlink', 'rename', 'mkdir', 'stat', 'lstat', 'fstat', 'readdir', 'read']);

function isFileIO(frame: CallFrame): boolean {
  return frame.url.startsWith('node:fs') || frame.url.startsWith('node:internal/fs') || (frame.url === '' && FS_NATIVE.has(frame.functionName));
}

function isDecompress(frame: CallFrame): boolean {
  return frame.url === 'node:zlib' || /zstd|gunzip|inflate|decompress/i.test(frame.functionName);
}

function isHttp(frame: CallFrame): boolean {
  const url = frame.url;
  return (
    url.startsWith('node:_http') ||
    url.startsWith('node:net') ||
    url.startsWith('node:internal/stream') ||
    url.startsWith('node:stream') ||
    url.startsWith('node:internal/http') ||
    (url === '' && /HTTPParser|^write(Latin1|Utf8|Ascii)String$|^writev$|^onStreamRead$|^shutdown$/.test(frame.functionName))
  );
}

export function classify(node: TreeNode, owner: TreeNode | null): Stage {
  const name = node.frame.functionName;
  if (name === '(idle)') return 'idle';
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)' || name === '(root)') return 'other';
  const area = owner ? areaOf(owner.frame) : null;
  switch (area) {
    case 'storage':
      return isFileIO(node.frame) ? 'file I/O' : 'flush/encode';
    case 'ingest':
      return 'decode';
    case 'buffer':
      return 'buffer append';
    case 'decompress':
      return 'decompression';
    case 'server':
      return isDecompress(node.frame) ? 'decompression' : 'HTTP parsing';
    case 'other-own':
      return 'other';
    case null:
      // Below no arc-ts frame: Node's own HTTP machinery, timers, the worker's message loop.
      for (let n: TreeNode | null = node; n; n = n.parent) {
        if (isDecompress(n.frame)) return 'decompression';
        if (isFileIO(n.frame)) return 'file I/O';
        if (isHttp(n.frame)) return 'HTTP parsing';
      }
      return 'other';
  }
}

export function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const at = url.indexOf('/dist/');
  if (at >= 0) return url.slice(at + '/dist/'.length).replace(/\.js$/, '.ts');
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  return url.replace(/^file:\/\//, '');
}

export function formatAnalysis(analysis: Analysis): string {
  const threads = Object.keys(analysis.threads);
  const fmt = (v: number) => (analysis.unit === 'us' ? `${(v / 1000).toFixed(0)} ms` : `${(v / 1048576).toFixed(1)} MB`);
  const lines = [`where the ${analysis.unit === 'us' ? 'time' : 'allocated memory'} went (all threads: ${fmt(analysis.total)})`];
  lines.push(`  ${'stage'.padEnd(15)} ${'share'.padStart(7)}  ${threads.map((t) => t.padStart(16)).join('')}`);
  for (const row of analysis.stages) {
    const perThread = threads.map((t) => fmt(row.byThread[t] ?? 0).padStart(16)).join('');
    lines.push(`  ${row.stage.padEnd(15)} ${row.percent.toFixed(1).padStart(6)}%  ${perThread}`);
  }
  lines.push('', `top ${analysis.top.length} functions by self ${analysis.unit === 'us' ? 'time' : 'allocation'} (idle excluded)`);
  for (const fn of analysis.top) {
    lines.push(`  ${fn.percent.toFixed(1).padStart(5)}%  ${fmt(fn.value).padStart(9)}  ${fn.name.slice(0, 40).padEnd(40)} ${fn.location}  [${fn.stage}]`);
  }
  return lines.join('\n');
}
