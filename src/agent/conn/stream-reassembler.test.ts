import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import type { DataEvent } from '../bpf/events.ts';
import { Direction } from '../bpf/events.ts';
import { Counters } from './counters.ts';
import type { StreamConsumer } from './stream-reassembler.ts';
import { StreamReassembler } from './stream-reassembler.ts';

const LIMITS = { maxHeldEvents: 16, maxHeldBytes: 1024, reorderTimeoutNs: 1_000_000 };

/** Collects delivered text and gaps, reading only bytes[start, end) as the contract says. */
class Collector implements StreamConsumer {
  out = '';
  deliverData(_direction: Direction, bytes: Uint8Array, start: number, end: number): void {
    this.out += new TextDecoder().decode(bytes.subarray(start, end));
  }
  deliverGap(_direction: Direction, lengthBytes: number): void {
    this.out += `<gap ${lengthBytes}>`;
  }
}

/**
 * An event in the decoder's zero-copy form: the payload is a range of a
 * larger buffer (other records' bytes around it), as decodeRecords passes it.
 */
function rangeEvent(position: number, text: string, length = text.length): DataEvent {
  const payload = new TextEncoder().encode(text);
  const buffer = new Uint8Array(payload.length + 16).fill(0x23); // '#' around the payload
  buffer.set(payload, 8);
  return {
    timestampNs: position, connId: 1, pid: 1, fd: 3, direction: Direction.Ingress, position, length,
    get data(): Uint8Array { throw new Error('the reassembler must read the payload range, not data'); },
    payloadBuffer: buffer, payloadStart: 8, payloadBytes: payload.length,
  };
}

describe('StreamReassembler', () => {
  describe('with events that carry their payload as a range of the drain buffer', () => {
    it('delivers only the range: in order, held out of order, overlapping and cut', () => {
      const stream = new StreamReassembler(Direction.Ingress);
      const consumer = new Collector();
      const counters = new Counters();
      stream.offer(rangeEvent(0, 'abc'), consumer, counters, LIMITS);
      stream.offer(rangeEvent(6, 'ghi'), consumer, counters, LIMITS); // ahead: held as a copy of the range
      stream.offer(rangeEvent(2, 'cdef'), consumer, counters, LIMITS); // overlaps 'c', then releases 'ghi'
      stream.offer(rangeEvent(9, 'jk', 5), consumer, counters, LIMITS); // 2 of 5 bytes captured
      assert.equal(consumer.out, 'abcdefghijk<gap 3>');
      assert.equal(stream.nextPosition, 14);
      assert.equal(stream.heldBytes, 0);
    });
  });
});
