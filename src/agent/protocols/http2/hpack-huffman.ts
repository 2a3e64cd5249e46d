// HPACK's static Huffman code (RFC 7541 Appendix B) and a decoder that reads
// four bits per step. The code is canonical: codes of one length are
// consecutive and ordered by symbol, so the 257 code lengths below determine
// every code; hpack.test.ts checks some codes against the RFC's table.

/** Code length in bits of symbols 0..255 and EOS (256), from RFC 7541 Appendix B. */
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // ' '-'/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // '0'-'?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // '@'-'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 'P'-'_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // '`'-'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 'p'-127
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30, // EOS
];

const EOS = 256;

/** Canonical codes from the lengths: shorter codes first, then by symbol. */
function canonicalCodes(lengths: readonly number[]): number[] {
  const order = lengths.map((_, symbol) => symbol).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const codes: number[] = new Array<number>(lengths.length).fill(0);
  let code = 0;
  let length = lengths[order[0]!]!;
  for (let k = 0; k < order.length; k++) {
    const symbol = order[k]!;
    const len = lengths[symbol]!;
    code *= 2 ** (len - length);
    length = len;
    codes[symbol] = code;
    code++;
  }
  return codes;
}

/** Code of each symbol, right-aligned (as RFC 7541 prints it). */
export const HUFFMAN_CODES: readonly number[] = Object.freeze(canonicalCodes(CODE_LENGTHS));
export const HUFFMAN_LENGTHS: readonly number[] = CODE_LENGTHS;

// Decoding automaton. States are the internal nodes of the code tree (256 of
// them); an entry per (state, nibble) says the next state, whether a symbol
// was completed on the way (at most one: the shortest code has 5 bits), and
// whether the walk hit EOS (a decoding error). A state accepts the end of the
// string when the bits since the last symbol are all ones and fewer than 8
// (RFC 7541 §5.2: padding is the most significant bits of EOS).
const F_EMIT = 1 << 17;
const F_FAIL = 1 << 18;
const SYMBOL_SHIFT = 8;
const STATE_MASK = 0xff;

const { table: DECODE_TABLE, accepting: ACCEPTING } = buildDecoder();

function buildDecoder(): { table: Int32Array; accepting: Uint8Array } {
  // Tree: child[node * 2 + bit] = internal node id, or -(symbol + 1) for a leaf.
  const child = new Int32Array(512 * 2);
  const depth = new Uint8Array(512);
  const allOnes = new Uint8Array(512);
  allOnes[0] = 1;
  let nodes = 1;
  for (let symbol = 0; symbol <= EOS; symbol++) {
    const code = HUFFMAN_CODES[symbol]!;
    const len = CODE_LENGTHS[symbol]!;
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = Math.floor(code / 2 ** b) % 2;
      const slot = node * 2 + bit;
      if (b === 0) {
        child[slot] = -(symbol + 1);
        break;
      }
      if (child[slot] === 0) {
        child[slot] = nodes;
        depth[nodes] = depth[node]! + 1;
        allOnes[nodes] = allOnes[node]! & bit;
        nodes++;
      }
      node = child[slot]!;
    }
  }
  const table = new Int32Array(nodes * 16);
  const accepting = new Uint8Array(nodes);
  for (let state = 0; state < nodes; state++) {
    accepting[state] = allOnes[state] === 1 && depth[state]! <= 7 ? 1 : 0;
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let b = 3; b >= 0; b--) {
        const next = child[node * 2 + ((nibble >> b) & 1)]!;
        if (next >= 0) {
          node = next;
          continue;
        }
        const symbol = -next - 1;
        if (symbol === EOS) {
          entry |= F_FAIL;
          break;
        }
        entry |= F_EMIT | (symbol << SYMBOL_SHIFT);
        node = 0;
      }
      table[state * 16 + nibble] = entry | node;
    }
  }
  return { table, accepting };
}

/**
 * Decodes `bytes[start, end)` into `out` from index 0; returns the decoded
 * length, or -1 when the input is not a valid HPACK Huffman string (EOS
 * inside, bad padding) or `out` is too small. Never throws.
 */
export function huffmanDecode(bytes: Uint8Array, start: number, end: number, out: Uint8Array): number {
  let state = 0;
  let o = 0;
  const limit = out.length;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    let entry = DECODE_TABLE[state * 16 + (byte >> 4)]!;
    if ((entry & F_FAIL) !== 0) return -1;
    if ((entry & F_EMIT) !== 0) {
      if (o >= limit) return -1;
      out[o++] = (entry >> SYMBOL_SHIFT) & 0xff;
    }
    entry = DECODE_TABLE[(entry & STATE_MASK) * 16 + (byte & 15)]!;
    if ((entry & F_FAIL) !== 0) return -1;
    if ((entry & F_EMIT) !== 0) {
      if (o >= limit) return -1;
      out[o++] = (entry >> SYMBOL_SHIFT) & 0xff;
    }
    state = entry & STATE_MASK;
  }
  return ACCEPTING[state] === 1 ? o : -1;
}
