import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { PostgreSQL, sql, type SQLNamespace } from '@codemirror/lang-sql';
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { Compartment, EditorState, Prec } from '@codemirror/state';
import { EditorView, drawSelection, highlightActiveLine, keymap, lineNumbers, placeholder } from '@codemirror/view';

/** The nonce the server put in this page's Content-Security-Policy for inline styles. */
function styleNonce(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="arc-style-nonce"]')?.content ?? '';
}

/**
 * The SQL editor: highlighting and completion from CodeMirror's SQL mode (DuckDB's dialect is
 * close to PostgreSQL's), with the server's databases, measurements and columns as the schema.
 * Ctrl+Enter (Cmd+Enter) runs the query.
 */
export class SqlEditor {
  readonly view: EditorView;
  private readonly language = new Compartment();

  constructor(parent: HTMLElement, initial: string, run: () => void) {
    const runKey = Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => (run(), true) }]));
    this.view = new EditorView({
      parent,
      state: EditorState.create({
        doc: initial,
        extensions: [
          runKey,
          EditorView.cspNonce.of(styleNonce()),
          lineNumbers(),
          history(),
          drawSelection(),
          highlightActiveLine(),
          bracketMatching(),
          closeBrackets(),
          autocompletion({ activateOnTyping: true }),
          syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
          keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap]),
          placeholder('SELECT * FROM cpu ORDER BY time DESC LIMIT 100   (Ctrl+Enter runs)'),
          this.language.of(sql({ dialect: PostgreSQL, upperCaseKeywords: true })),
          EditorView.lineWrapping,
        ],
      }),
    });
  }

  get text(): string {
    return this.view.state.doc.toString();
  }

  set text(value: string) {
    this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: value } });
  }

  /** Completion names: `schema` maps measurement -> columns (also as database.measurement), `defaultTable` is the current database. */
  setSchema(schema: SQLNamespace, defaultSchema?: string): void {
    this.view.dispatch({ effects: this.language.reconfigure(sql({ dialect: PostgreSQL, upperCaseKeywords: true, schema, defaultSchema })) });
  }

  focus(): void {
    this.view.focus();
  }
}
