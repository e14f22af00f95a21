import { STAGES, areaOf, classify, shortUrl, type CallFrame, type NamedProfile, type Stage, type TreeNode } from './analyze.js';

/**
 * A self-contained SVG flamegraph of several threads' call trees: one bar per call path, as wide
 * as the time (or bytes) spent in it and below it, root at the bottom, coloured by pipeline stage;
 * hovering a bar shows the function, file:line and its share. Identical frames under the same
 * parent are merged. Idle time is left out, so bars are shares of the work done.
 */
const WIDTH = 1400;
const ROW = 17;
const TOP = 56;
const MIN_WIDTH = 0.25;

const COLORS: Record<Stage, string> = {
  'HTTP parsing': '#e58f3a',
  decompression: '#c9b458',
  decode: '#e0603c',
  'buffer append': '#d94f8c',
  'flush/encode': '#4c9f70',
  'file I/O': '#3f84c6',
  GC: '#9a9a9a',
  idle: '#dddddd',
  other: '#c7a27c',
};

interface MergedNode {
  label: string;
  frame: CallFrame | null;
  stage: Stage;
  self: number;
  total: number;
  children: Map<string, MergedNode>;
}

export function renderFlamegraph(threads: Array<NamedProfile<TreeNode>>, title: string, unit: 'us' | 'bytes'): string {
  const root: MergedNode = { label: 'all threads', frame: null, stage: 'other', self: 0, total: 0, children: new Map() };
  for (const { name, profile } of threads) {
    const thread: MergedNode = { label: `thread ${name}`, frame: null, stage: 'other', self: 0, total: 0, children: new Map() };
    root.children.set(name, thread);
    merge(profile, null, thread);
  }
  const total = computeTotals(root);
  const rects: string[] = [];
  let maxDepth = 0;
  const scale = total > 0 ? WIDTH / total : 0;
  const place = (node: MergedNode, x: number, depth: number) => {
    const width = node.total * scale;
    if (width < MIN_WIDTH) return;
    maxDepth = Math.max(maxDepth, depth);
    rects.push(bar(node, x, depth, width, total, unit));
    let childX = x;
    for (const child of [...node.children.values()].sort((a, b) => a.label.localeCompare(b.label))) {
      place(child, childX, depth + 1);
      childX += child.total * scale;
    }
  };
  place(root, 0, 0);
  const height = TOP + (maxDepth + 1) * ROW + 8;
  // Flame orientation: depth 0 at the bottom.
  const positioned = rects.map((r) => r.replace(/data-depth="(\d+)"/, (_m, d: string) => `transform="translate(0 ${height - 8 - (Number(d) + 1) * ROW})"`));
  const legend = STAGES.filter((s) => s !== 'idle')
    .map((stage, i) => `<g transform="translate(${10 + i * 150} 34)"><rect width="12" height="12" fill="${COLORS[stage]}"/><text x="16" y="10">${escapeXml(stage)}</text></g>`)
    .join('');
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Verdana, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fdfdf8"/>`,
    `<text x="10" y="20" font-size="15">${escapeXml(title)} — ${escapeXml(formatValue(total, unit))} in all threads, idle excluded; hover a bar for details</text>`,
    legend,
    ...positioned,
    `</svg>`,
    '',
  ].join('\n');
}

function merge(node: TreeNode, owner: TreeNode | null, into: MergedNode): void {
  const own = areaOf(node.frame) !== null ? node : owner;
  for (const child of node.children) {
    if (child.frame.functionName === '(idle)') continue;
    const childOwner = areaOf(child.frame) !== null ? child : own;
    const key = `${child.frame.functionName}|${child.frame.url}|${child.frame.lineNumber}`;
    let merged = into.children.get(key);
    if (!merged) {
      const label = child.frame.functionName || '(anonymous)';
      merged = { label, frame: child.frame, stage: classify(child, childOwner), self: 0, total: 0, children: new Map() };
      into.children.set(key, merged);
    }
    merged.self += child.self;
    merge(child, childOwner, merged);
  }
}

function computeTotals(node: MergedNode): number {
  let total = node.self;
  for (const child of node.children.values()) total += computeTotals(child);
  node.total = total;
  return total;
}

function bar(node: MergedNode, x: number, depth: number, width: number, total: number, unit: 'us' | 'bytes'): string {
  const share = total > 0 ? (100 * node.total) / total : 0;
  const where = node.frame ? ` (${shortUrl(node.frame.url)}:${node.frame.lineNumber + 1})` : '';
  const tooltip = `${node.label}${where} — ${formatValue(node.total, unit)}, ${share.toFixed(2)}% [${node.stage}]`;
  const fill = node.frame ? COLORS[node.stage] : '#b0b0b0';
  const chars = Math.floor((width - 6) / 6.5);
  const text = chars >= 3 ? `<text x="${(x + 3).toFixed(2)}" y="12">${escapeXml(node.label.length > chars ? `${node.label.slice(0, chars - 1)}…` : node.label)}</text>` : '';
  return `<g data-depth="${depth}"><title>${escapeXml(tooltip)}</title><rect x="${x.toFixed(2)}" y="0" width="${width.toFixed(2)}" height="${ROW - 1}" rx="2" fill="${fill}"/>${text}</g>`;
}

function formatValue(value: number, unit: 'us' | 'bytes'): string {
  return unit === 'us' ? `${(value / 1000).toFixed(1)} ms` : `${(value / 1048576).toFixed(2)} MB`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}
