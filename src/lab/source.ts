import { LineCounter, parseDocument, isMap, isPair, isScalar, isSeq, type Document, type Node } from 'yaml';
import type { LabIssue } from '../errors.js';

export type PathSeg = string | number;

/** Format a path like `vms.router.nics[1].ip`. */
export function formatPath(segs: readonly PathSeg[]): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (!/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(s)) out += `[${JSON.stringify(s)}]`;
    else out += out ? `.${s}` : s;
  }
  return out;
}

/**
 * A parsed YAML source that remembers where every node came from, so that any
 * problem found later can point at file:line:column.
 */
export class YamlSource {
  readonly doc: Document.Parsed;
  private readonly lines = new LineCounter();

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, uniqueKeys: true, prettyErrors: true, strict: true, logLevel: 'error' });
  }

  /** YAML syntax problems (bad indentation, duplicate keys, tabs …). */
  syntaxIssues(): LabIssue[] {
    return this.doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      return {
        file: this.file,
        line: pos?.line,
        column: pos?.col,
        path: '',
        message: `YAML syntax: ${e.message.split('\n')[0]}`,
        hint: e.code === 'DUPLICATE_KEY' ? 'each key may appear once in a mapping' : 'check indentation (spaces, not tabs) and quoting',
      };
    });
  }

  toJS(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 });
  }

  /** Line/column of the node at `segs` (or of its key, for unknown-key errors). */
  locate(segs: readonly PathSeg[], atKey = false): { line: number; column: number } | undefined {
    let node: unknown = this.doc.contents;
    let keyNode: unknown;
    for (const seg of segs) {
      keyNode = undefined;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) return this.posOf(node);
        keyNode = pair.key;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
      } else {
        break;
      }
    }
    return this.posOf(atKey && keyNode ? keyNode : node);
  }

  private posOf(node: unknown): { line: number; column: number } | undefined {
    const range = (node as Node | undefined)?.range;
    if (!range) return undefined;
    const p = this.lines.linePos(range[0]);
    return { line: p.line, column: p.col };
  }
}
