import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { ProtoWriter, readFields } from './protobuf.writer.ts';

describe('ProtoWriter', () => {
  it('writes nested messages with their length prefixes, also past 127 bytes', () => {
    const w = new ProtoWriter(8);
    w.begin(1);
    w.string(1, 'k'.repeat(200));
    w.uint32(2, 7);
    w.end();
    const outer = readFields(w.finish());
    const inner = readFields(outer.get(1) as Uint8Array);
    assert.equal(new TextDecoder().decode(inner.get(1) as Uint8Array), 'k'.repeat(200));
    assert.equal(inner.get(2), 7);
  });

  it('encodes multi-byte UTF-8 strings with their byte length', () => {
    const w = new ProtoWriter(4);
    w.string(3, 'héllo ✓');
    assert.equal(new TextDecoder().decode(readFields(w.finish()).get(3) as Uint8Array), 'héllo ✓');
  });

  it('encodes int64 varints beyond 32 bits and fixed64 from two words', () => {
    const w = new ProtoWriter();
    w.int64(1, 5_000_000_000);
    w.fixed64Parts(2, 0x12345678, 0x9abcdef0);
    const bytes = w.finish();
    assert.equal(readFields(bytes).get(1), 5_000_000_000);
    const view = new DataView(bytes.buffer);
    const at = bytes.length - 8;
    assert.deepEqual([view.getUint32(at + 4, true), view.getUint32(at, true)], [0x12345678, 0x9abcdef0]);
  });

  it('writes ids from hex', () => {
    const w = new ProtoWriter();
    w.hexBytes(1, '0af7651916cd43dd');
    assert.deepEqual([...(readFields(w.finish()).get(1) as Uint8Array)], [0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd]);
  });
});
