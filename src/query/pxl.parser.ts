// Parses PxL source with the maintained Lezer Python grammar. The grammar is
// error-tolerant: it always returns a tree, with error nodes ("⚠") where it
// recovered. A script with any error node is refused with the position of the
// first one, before anything is compiled.
import type { SyntaxNode, Tree } from '@lezer/common';
import { parser } from '@lezer/python';
import { QueryError, SourcePositions } from './query-error.ts';

export interface ParsedScript {
  readonly source: string;
  readonly tree: Tree;
  readonly positions: SourcePositions;
}


/** Parses `source`; throws QueryError at the first syntax error. */
export function parseScript(source: string): ParsedScript {
  const tree = parser.parse(source);
  const positions = new SourcePositions(source);
  let firstError: SyntaxNode | undefined;
  tree.iterate({
    enter: (node) => {
      if (firstError) return false;
      if (node.type.isError) {
        firstError = node.node;
        return false;
      }
      return undefined;
    },
  });
  if (firstError) {
    const { offset, message } = describeSyntaxError(source, firstError);
    throw new QueryError(message, positions.at(offset));
  }
  return { source, tree, positions };
}

/**
 * Lezer puts an error node either around the unexpected text or, empty, at
 * the place where something is missing; name what stands there.
 */
function describeSyntaxError(source: string, node: SyntaxNode): { offset: number; message: string } {
  let offset = node.from;
  let text = source.slice(node.from, node.to).trim();
  if (text === '') {
    // Skip blanks on the same line; a newline or the end is what is unexpected.
    while (offset < source.length && (source[offset] === ' ' || source[offset] === '\t')) offset++;
    const rest = source.slice(offset);
    if (rest === '') return { offset, message: 'syntax error: unexpected end of script' };
    if (rest[0] === '\n' || rest[0] === '\r') return { offset, message: 'syntax error: unexpected end of line' };
    text = /^(\w+|\S)/.exec(rest)?.[0] ?? '';
  }
  const shown = text.split('\n')[0] ?? '';
  return { offset, message: `syntax error: unexpected ${JSON.stringify(shown.length > 20 ? `${shown.slice(0, 20)}…` : shown)}` };
}
