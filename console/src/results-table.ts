import { h, replace } from './dom.js';
import type { ResultColumn } from './arrow-columns.js';

const ROW_HEIGHT = 24;
/** Rows drawn beyond the visible ones, so a fast scroll does not show blank space for a frame. */
const OVERSCAN = 10;
/** Rows sampled to size the columns: enough to see typical widths, few enough to stay instant. */
const SIZE_SAMPLE = 200;
const CHAR_WIDTH = 7.5;

/**
 * A table that holds any number of rows but only ever has the visible ones (plus a margin) in the
 * DOM: a spacer as tall as all rows gives the scrollbar, and the drawn rows are moved under it.
 */
export class VirtualTable {
  readonly element: HTMLDivElement;
  private readonly header: HTMLDivElement;
  private readonly spacer: HTMLDivElement;
  private readonly body: HTMLDivElement;
  private columns: ResultColumn[] = [];
  private rowCount = 0;
  private widths: number[] = [];
  private drawn = { first: -1, last: -1 };
  private frame = 0;

  constructor() {
    this.header = h('div', { class: 'vt-header', role: 'row' });
    this.body = h('div', { class: 'vt-body', role: 'rowgroup' });
    this.spacer = h('div', { class: 'vt-spacer' }, this.body);
    this.element = h('div', { class: 'vt', role: 'table', tabindex: 0 }, this.header, this.spacer);
    this.element.addEventListener('scroll', () => {
      if (this.frame === 0) this.frame = requestAnimationFrame(() => ((this.frame = 0), this.draw()));
    });
  }

  setData(columns: ResultColumn[], rowCount: number): void {
    this.columns = columns;
    this.rowCount = rowCount;
    this.widths = columns.map((column) => {
      let longest = column.name.length + 2;
      for (let row = 0; row < Math.min(rowCount, SIZE_SAMPLE); row++) longest = Math.max(longest, column.text(row).length);
      return Math.min(420, Math.max(60, Math.ceil(longest * CHAR_WIDTH) + 16));
    });
    const total = this.widths.reduce((sum, width) => sum + width, 0) + 56;
    replace(
      this.header,
      h('div', { class: 'vt-cell vt-index' }, '#'),
      ...columns.map((column, index) => this.sized(h('div', { class: `vt-cell vt-${column.kind}`, title: `${column.name}: ${column.type}`, role: 'columnheader' }, column.name), index)),
    );
    this.header.style.width = `${total}px`;
    this.spacer.style.width = `${total}px`;
    this.spacer.style.height = `${rowCount * ROW_HEIGHT}px`;
    this.element.scrollTop = 0;
    this.drawn = { first: -1, last: -1 };
    this.draw();
  }

  clear(): void {
    this.setData([], 0);
  }

  /** How many row elements are in the DOM (the test checks it stays small). */
  get drawnRows(): number {
    return this.body.childElementCount;
  }

  private sized(cell: HTMLElement, column: number): HTMLElement {
    cell.style.width = `${this.widths[column]}px`;
    return cell;
  }

  private draw(): void {
    const height = this.element.clientHeight || 400;
    const first = Math.max(0, Math.floor(this.element.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rowCount, Math.ceil((this.element.scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
    if (first === this.drawn.first && last === this.drawn.last) return;
    this.drawn = { first, last };
    const rows = document.createDocumentFragment();
    for (let row = first; row < last; row++) {
      const line = h('div', { class: 'vt-row', role: 'row', 'data-row': row }, h('div', { class: 'vt-cell vt-index' }, row + 1));
      for (let column = 0; column < this.columns.length; column++) {
        const spec = this.columns[column]!;
        const text = spec.text(row);
        line.appendChild(this.sized(h('div', { class: `vt-cell vt-${spec.kind}${text === 'null' ? ' vt-null' : ''}`, role: 'cell' }, text), column));
      }
      rows.appendChild(line);
    }
    this.body.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    replace(this.body, rows);
  }
}
