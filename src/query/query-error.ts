/**
 * A script error found before anything runs: syntax, unknown names, tables or
 * columns, wrong argument types, unsupported constructs. `line` and `column`
 * are 1-based and point at the first character of the offending construct.
 */
export class QueryError extends Error {
  override readonly name = 'QueryError';
  readonly line: number;
  readonly column: number;

  constructor(message: string, position: { line: number; column: number }, options?: { cause?: unknown }) {
    super(message, options);
    this.line = position.line;
    this.column = position.column;
  }

  /** "line:col: message", the form the CLI prints. */
  override toString(): string {
    return `${this.line}:${this.column}: ${this.message}`;
  }
}

/** Maps source offsets (UTF-16 code units, as Lezer reports them) to 1-based line:column. */
export class SourcePositions {
  readonly #lineStarts: number[] = [0];

  constructor(source: string) {
    for (let i = 0; i < source.length; i++) {
      if (source.charCodeAt(i) === 10) this.#lineStarts.push(i + 1);
    }
  }

  at(offset: number): { line: number; column: number } {
    // Binary search for the last line start <= offset.
    let lo = 0;
    let hi = this.#lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (this.#lineStarts[lo] ?? 0) + 1 };
  }
}
