/**
 * Source positions for YAML nodes, so that semantic errors can point at file:line:col.
 *
 * js-yaml has no AST; its `listener` option reports an `open` and a `close` event for every node
 * it composes, in document order. We rebuild a tree from those events and then walk it alongside
 * the loaded value, recording the position of every value (and of every mapping key) by JSON
 * pointer, e.g. "/spec/ipam/config/0/subnet" and, for keys, "/spec/ipam#key".
 */

interface Frame {
  start: number;
  end: number;
  kind: string | null;
  result: unknown;
  children: Frame[];
}

/** Line and column, 1-based. */
export interface LineCol {
  line: number;
  col: number;
}

export type PositionMap = Map<string, LineCol>;

interface ListenerState {
  position: number;
  kind: string | null;
  result: unknown;
}

/** Collects listener events; call `roots()` after loading to get one frame per document. */
export class PositionRecorder {
  private readonly stack: Frame[] = [{ start: 0, end: 0, kind: null, result: undefined, children: [] }];

  readonly listener = (event: 'open' | 'close', state: ListenerState): void => {
    if (event === 'open') {
      this.stack.push({ start: state.position, end: state.position, kind: null, result: undefined, children: [] });
      return;
    }
    const frame = this.stack.pop();
    const parent = this.stack[this.stack.length - 1];
    if (!frame || !parent) return;
    frame.end = state.position;
    frame.kind = state.kind;
    frame.result = state.result;
    parent.children.push(frame);
  };

  /** The top-level frames, one per document (empty documents may have none). */
  roots(): Frame[] {
    return this.stack[0]?.children ?? [];
  }
}

/** Maps byte offsets to line/column, skipping the whitespace and comments a node's event starts on. */
export class SourceText {
  private readonly lineStarts: number[] = [0];
  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.lineStarts.push(i + 1);
  }

  /** Position of the first significant character at or after `offset`. */
  lineColAt(offset: number): LineCol {
    let i = offset;
    while (i < this.text.length) {
      const c = this.text[i];
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n') i++;
      else if (c === '#') while (i < this.text.length && this.text[i] !== '\n') i++;
      else break;
    }
    return this.exact(Math.min(i, this.text.length));
  }

  exact(offset: number): LineCol {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - (this.lineStarts[lo] ?? 0) + 1 };
  }
}

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Walks a document's frame tree next to its loaded value, filling `out` with pointer -> position. */
export function mapPositions(frame: Frame, value: unknown, src: SourceText, out: PositionMap, pointer = ''): void {
  out.set(pointer, src.lineColAt(frame.start));
  // A flow collection inside a block sequence item is composed twice (item, then collection).
  frame = innermost(frame);
  if (Array.isArray(value)) {
    // Empty sequence items produce no events, so match children to items by value.
    let c = 0;
    for (let i = 0; i < value.length && c < frame.children.length; i++) {
      const child = frame.children[c];
      if (child && sameValue(child.result, value[i])) {
        mapPositions(child, value[i], src, out, `${pointer}/${i}`);
        c++;
      }
    }
    return;
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = new Set(Object.keys(obj));
    // Children alternate key, value. A trailing unpaired child is a parser artefact.
    for (let c = 0; c + 1 < frame.children.length; c += 2) {
      const keyFrame = frame.children[c];
      const valueFrame = frame.children[c + 1];
      if (!keyFrame || !valueFrame) break;
      const key = String(keyFrame.result);
      if (!keys.has(key)) continue;
      const childPointer = `${pointer}/${escapePointer(key)}`;
      out.set(`${childPointer}#key`, src.lineColAt(keyFrame.start));
      mapPositions(valueFrame, obj[key], src, out, childPointer);
    }
  }
}

/** A flow collection inside a block sequence item is composed twice (item, then collection): skip the wrapper. */
function innermost(frame: Frame): Frame {
  let f = frame;
  for (;;) {
    const only = f.children.length === 1 ? f.children[0] : undefined;
    if (!only || only.result !== f.result || typeof f.result !== 'object' || f.result === null) return f;
    f = only;
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return a === null && b === undefined;
}

/**
 * The position to report for a pointer: the node itself, else its nearest ancestor that has one.
 * With `key`, prefers the position of the mapping key (for "unknown field" errors).
 */
export function lookupPosition(map: PositionMap, pointer: string, key = false): LineCol {
  if (key) {
    const k = map.get(`${pointer}#key`);
    if (k) return k;
  }
  let p = pointer;
  for (;;) {
    const hit = map.get(p);
    if (hit) return hit;
    if (p === '') return { line: 1, col: 1 };
    p = p.slice(0, p.lastIndexOf('/'));
  }
}
