import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode } from './hpack-huffman.ts';
import { HeaderList, HpackDecoder } from './hpack.decoder.ts';

const hex = (text: string): Uint8Array => Buffer.from(text.replace(/\s+/g, ''), 'hex');

function decode(decoder: HpackDecoder, block: string): [string, string][] | string {
  const bytes = hex(block);
  const list = new HeaderList();
  const error = decoder.decode(bytes, 0, bytes.length, list);
  if (error !== null) return error;
  return list.names.slice(0, list.count).map((n, k) => [n, list.values[k]!]);
}

function table(decoder: HpackDecoder): [string, string][] {
  const out: [string, string][] = [];
  for (let k = 62; decoder.entry(k) !== undefined; k++) out.push(decoder.entry(k)!);
  return out;
}

/** RFC 7541 §4.1 entry size. */
const size = (entries: [string, string][]): number => entries.reduce((n, [a, b]) => n + a.length + b.length + 32, 0);

// The examples of RFC 7541 Appendix C. The response examples (C.5, C.6) run with a 256-byte table,
// which the RFC sets by SETTINGS; here a size update (3fe101 = 256) opens the first block.
const REQUESTS = [
  [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'],
] as [string, string][];
const REQUEST_2 = [...REQUESTS, ['cache-control', 'no-cache']] as [string, string][];
const REQUEST_3 = [
  [':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value'],
] as [string, string][];
const RESPONSE_1 = [
  [':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com'],
] as [string, string][];
const RESPONSE_2 = [[':status', '307'], ...RESPONSE_1.slice(1)] as [string, string][];
const RESPONSE_3 = [
  [':status', '200'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'], ['location', 'https://www.example.com'],
  ['content-encoding', 'gzip'], ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
] as [string, string][];
const RESPONSE_TABLE_1 = [
  ['location', 'https://www.example.com'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['cache-control', 'private'], [':status', '302'],
] as [string, string][];
const RESPONSE_TABLE_2 = [[':status', '307'], ...RESPONSE_TABLE_1.slice(0, 3)] as [string, string][];
const RESPONSE_TABLE_3 = [
  ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'], ['content-encoding', 'gzip'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
] as [string, string][];

describe('HPACK Huffman code', () => {
  it('matches RFC 7541 Appendix B for sampled symbols and is complete', () => {
    const rfc: Record<number, [number, number]> = {
      0: [0x1ff8, 13], 9: [0xffffea, 24], 32: [0x14, 6], 48: [0x0, 5], 97: [0x3, 5], 126: [0x1ffd, 13],
      127: [0xffffffc, 28], 195: [0x7fff1, 19], 255: [0x3ffffee, 26], 256: [0x3fffffff, 30],
    };
    for (const [symbol, [code, length]] of Object.entries(rfc)) {
      assert.equal(HUFFMAN_CODES[Number(symbol)], code, `code of ${symbol}`);
      assert.equal(HUFFMAN_LENGTHS[Number(symbol)], length, `length of ${symbol}`);
    }
    assert.equal(HUFFMAN_LENGTHS.reduce((sum, len) => sum + 2 ** -len, 0), 1, 'Kraft sum of a complete prefix code');
  });

  it('rejects EOS in the string and padding that is not all ones or longer than 7 bits', () => {
    const out = new Uint8Array(16);
    assert.equal(huffmanDecode(hex('ffffffff'), 0, 4, out), -1, 'EOS');
    assert.equal(huffmanDecode(hex('00'), 0, 1, out), -1, "'0' then three zero bits of padding");
    assert.equal(huffmanDecode(hex('07'), 0, 1, out), 1, "'0' then 111");
    assert.equal(huffmanDecode(hex('07ff'), 0, 2, out), -1, '11 bits of padding');
  });
});

describe('HpackDecoder (RFC 7541 Appendix C)', () => {
  describe('with single representations (C.2)', () => {
    it('adds a literal with indexing to the dynamic table', () => {
      const d = new HpackDecoder();
      assert.deepEqual(decode(d, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'), [['custom-key', 'custom-header']]);
      assert.deepEqual(table(d), [['custom-key', 'custom-header']]);
      assert.equal(d.dynamicTableBytes, 55);
    });

    it('leaves the table alone for literals without indexing, never indexed, and indexed fields', () => {
      const d = new HpackDecoder();
      assert.deepEqual(decode(d, '040c 2f73 616d 706c 652f 7061 7468'), [[':path', '/sample/path']]);
      assert.deepEqual(decode(d, '1008 7061 7373 776f 7264 0673 6563 7265 74'), [['password', 'secret']]);
      assert.deepEqual(decode(d, '82'), [[':method', 'GET']]);
      assert.equal(d.dynamicTableLength, 0);
    });
  });

  for (const [title, blocks] of [
    ['requests without Huffman coding (C.3)', [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ]],
    ['requests with Huffman coding (C.4)', [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ]],
  ] as const) {
    describe(`with ${title}`, () => {
      it('decodes each block and keeps the dynamic table of the RFC', () => {
        const d = new HpackDecoder();
        assert.deepEqual(decode(d, blocks[0]), REQUESTS);
        assert.deepEqual(table(d), [[':authority', 'www.example.com']]);
        assert.equal(d.dynamicTableBytes, 57);
        assert.deepEqual(decode(d, blocks[1]), REQUEST_2);
        assert.deepEqual(table(d), [['cache-control', 'no-cache'], [':authority', 'www.example.com']]);
        assert.equal(d.dynamicTableBytes, 110);
        assert.deepEqual(decode(d, blocks[2]), REQUEST_3);
        assert.deepEqual(table(d), [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']]);
        assert.equal(d.dynamicTableBytes, 164);
      });
    });
  }

  for (const [title, blocks] of [
    ['responses without Huffman coding, evicting from a 256-byte table (C.5)', [
      '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '4803 3330 37c1 c0bf',
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
    ]],
    ['responses with Huffman coding, evicting from a 256-byte table (C.6)', [
      '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
      '4883 640e ffc1 c0bf',
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ]],
  ] as const) {
    describe(`with ${title}`, () => {
      it('decodes each block and evicts the oldest entries as the RFC does', () => {
        const d = new HpackDecoder();
        assert.deepEqual(decode(d, `3fe101 ${blocks[0]}`), RESPONSE_1);
        assert.equal(d.dynamicTableLimit, 256);
        assert.deepEqual(table(d), RESPONSE_TABLE_1);
        assert.equal(d.dynamicTableBytes, 222);
        assert.deepEqual(decode(d, blocks[1]), RESPONSE_2);
        assert.deepEqual(table(d), RESPONSE_TABLE_2);
        assert.equal(d.dynamicTableBytes, 222);
        assert.deepEqual(decode(d, blocks[2]), RESPONSE_3);
        assert.deepEqual(table(d), RESPONSE_TABLE_3);
        assert.equal(d.dynamicTableBytes, size(RESPONSE_TABLE_3));
        assert.equal(d.dynamicTableBytes, 215);
      });
    });
  }

  describe('with malformed blocks', () => {
    it('reports a clear reason and never throws', () => {
      assert.equal(decode(new HpackDecoder(), '80'), 'hpack_index', 'index 0');
      assert.equal(decode(new HpackDecoder(), 'be'), 'hpack_index', 'dynamic index into an empty table');
      assert.equal(decode(new HpackDecoder(), 'ffffffffff7f'), 'hpack_integer', 'integer overflow');
      assert.equal(decode(new HpackDecoder(), '400a 6375'), 'hpack_string', 'string past the block');
      assert.equal(decode(new HpackDecoder(), '4081ff 00'), 'hpack_huffman', 'EOS in a Huffman string');
      assert.equal(decode(new HpackDecoder(), '82 3fe101'), 'hpack_table_size', 'size update after a field');
      assert.equal(decode(new HpackDecoder(), '3fe1ff07'), 'hpack_table_size', 'size update over the cap');
    });

    it('shrinks the table to zero and back on size updates', () => {
      const d = new HpackDecoder();
      decode(d, '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572');
      assert.deepEqual(decode(d, '20 3fe11f 82'), [[':method', 'GET']]);
      assert.equal(d.dynamicTableLength, 0);
      assert.equal(d.dynamicTableLimit, 4096);
    });
  });
});
