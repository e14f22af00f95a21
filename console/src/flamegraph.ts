import { areaOf, classify, shortUrl, type Stage, type TreeNode } from '../../src/cli/profile/analyze.js';
import { h, replace } from './dom.js';

export const STAGE_COLORS: Record<Stage, string> = {
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

const ROW_HEIGHT = 18;
/** Bars narrower than this share of the view are not drawn (they could not be read or clicked). */
const MIN_SHARE = 0.002;
const MAX_DEPTH = 80;

/** A call path: identical frames under one parent merged, `total` = self + children. */
export interface FlameNode {
  name: string;
  location: string;
  stage: Stage;
  self: number;
  total: number;
  children: FlameNode[];
  parent: FlameNode | null;
}

/** Merges the threads' trees under one root, leaving idle time out so bars are shares of the work done. */
export function flameTree(threads: Array<{ name: string; profile: TreeNode }>): FlameNode {
  const root: FlameNode = { name: 'all threads', location: '', stage: 'other', self: 0, total: 0, children: [], parent: null };
  for (const thread of threads) {
    const top: FlameNode = { name: `thread ${thread.name}`, location: '', stage: 'other', self: 0, total: 0, children: [], parent: root };
    root.children.push(top);
    const stack: Array<[TreeNode, FlameNode, TreeNode | null]> = [[thread.profile, top, null]];
    while (stack.length > 0) {
      const [node, into, owner] = stack.pop()!;
      for (const child of node.children) {
        const stage = classify(child, owner);
        if (stage === 'idle') continue;
        const name = child.frame.functionName || '(anonymous)';
        const location = child.frame.url ? `${shortUrl(child.frame.url)}:${child.frame.lineNumber + 1}` : '';
        let merged = into.children.find((c) => c.name === name && c.location === location);
        if (!merged) into.children.push((merged = { name, location, stage, self: 0, total: 0, children: [], parent: into }));
        merged.self += child.self;
        stack.push([child, merged, areaOf(child.frame) !== null ? child : owner]);
      }
    }
  }
  const sum = (node: FlameNode): number => (node.total = node.self + node.children.reduce((s, c) => s + sum(c), 0));
  sum(root);
  const order = (node: FlameNode): void => {
    node.children.sort((a, b) => b.total - a.total);
    node.children.forEach(order);
  };
  order(root);
  return root;
}

/**
 * An icicle flamegraph in the DOM: the focused node spans the width, its callees below it, each as
 * wide as its share. A click focuses a bar (zoom), the root bar or Reset zooms out; the search marks
 * every bar whose function or file matches and says how much of the view they take.
 */
export class Flamegraph {
  readonly element: HTMLDivElement;
  private readonly canvas: HTMLDivElement;
  private readonly info: HTMLDivElement;
  private focus: FlameNode;
  private search = '';

  constructor(
    private readonly root: FlameNode,
    private readonly unit: 'us' | 'bytes',
  ) {
    this.focus = root;
    this.canvas = h('div', { class: 'fg-canvas' });
    this.info = h('div', { id: 'flame-info', class: 'hint' });
    const searchBox = h('input', { id: 'flame-search', type: 'search', placeholder: 'search functions or files' });
    searchBox.addEventListener('input', () => {
      this.search = searchBox.value.trim().toLowerCase();
      this.draw();
    });
    const reset = h('button', { id: 'flame-reset', onclick: () => this.zoom(this.root) }, 'Reset zoom');
    this.element = h('div', { class: 'flamegraph' }, h('div', { class: 'toolbar' }, searchBox, reset, this.info), this.canvas);
    this.draw();
  }

  zoom(node: FlameNode): void {
    this.focus = node;
    this.draw();
  }

  private describe(node: FlameNode): string {
    const value = this.unit === 'us' ? `${(node.total / 1000).toFixed(1)} ms` : `${(node.total / 1024).toFixed(0)} KB`;
    const share = this.root.total > 0 ? ((100 * node.total) / this.root.total).toFixed(1) : '0';
    return `${node.name}${node.location ? ` (${node.location})` : ''}: ${value}, ${share}% of all · ${node.stage}`;
  }

  private draw(): void {
    const bars: HTMLElement[] = [];
    let matched = 0;
    // The focused node's ancestors stay on top (full width), so the way back is visible.
    const path: FlameNode[] = [];
    for (let n: FlameNode | null = this.focus.parent; n; n = n.parent) path.unshift(n);
    path.forEach((node, depth) => bars.push(this.bar(node, depth, 0, 1, true)));
    const base = this.focus.total || 1;
    const visit = (node: FlameNode, depth: number, left: number) => {
      const width = node.total / base;
      if (width < MIN_SHARE || depth > MAX_DEPTH) return;
      const bar = this.bar(node, depth, left, width, false);
      if (this.search && (node.name.toLowerCase().includes(this.search) || node.location.toLowerCase().includes(this.search))) {
        bar.classList.add('fg-match');
        matched += node.total;
      }
      bars.push(bar);
      let childLeft = left;
      for (const child of node.children) {
        visit(child, depth + 1, childLeft);
        childLeft += child.total / base;
      }
    };
    visit(this.focus, path.length, 0);
    const depth = bars.reduce((d, b) => Math.max(d, Number(b.dataset.depth) + 1), 0);
    this.canvas.style.height = `${depth * ROW_HEIGHT}px`;
    replace(this.canvas, ...bars);
    this.info.textContent = this.search
      ? `"${this.search}": ${((100 * Math.min(matched, base)) / base).toFixed(1)}% of the view`
      : this.describe(this.focus);
  }

  private bar(node: FlameNode, depth: number, left: number, width: number, ancestor: boolean): HTMLElement {
    const bar = h('div', { class: `fg-bar${ancestor ? ' fg-ancestor' : ''}`, title: this.describe(node), 'data-depth': depth, 'data-name': node.name }, node.name);
    bar.style.left = `${left * 100}%`;
    bar.style.width = `${width * 100}%`;
    bar.style.top = `${depth * ROW_HEIGHT}px`;
    bar.style.background = STAGE_COLORS[node.stage];
    bar.addEventListener('click', () => this.zoom(node));
    bar.addEventListener('mouseenter', () => (this.info.textContent = this.describe(node)));
    return bar;
  }
}
