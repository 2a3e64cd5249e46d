// Orders the data events of one direction of one connection by stream
// position. Events that arrive ahead of the next expected position are copied
// and held (bounded by count, bytes and age); when the missing bytes never
// come, the reassembler gives up and reports them as a gap so the parser can
// skip or resync. In-order events, the common case, are delivered straight
// from the decoder's view without a copy.

import type { DataEvent, Direction } from '../bpf/events.ts';
import type { Counters } from './counters.ts';

/** Receives the contiguous bytes of a direction, in stream order. */
export interface StreamConsumer {
  /** `bytes[start, end)` are the next bytes; the view is valid only during the call. */
  deliverData(direction: Direction, bytes: Uint8Array, start: number, end: number, timestampNs: number): void;
  /** The next `lengthBytes` bytes were not captured (or were lost). */
  deliverGap(direction: Direction, lengthBytes: number, timestampNs: number): void;
}

export interface ReorderLimits {
  /** Events held per direction while waiting for an earlier position. */
  readonly maxHeldEvents: number;
  /** Payload bytes held per direction. */
  readonly maxHeldBytes: number;
  /** How long (event-time ns) an early event may wait for the bytes before it. */
  readonly reorderTimeoutNs: number;
}

interface HeldChunk {
  readonly position: number;
  readonly length: number;
  readonly timestampNs: number;
  /** Copy of the captured payload (`data.length <= length`). */
  readonly data: Uint8Array;
}

export class StreamReassembler {
  readonly direction: Direction;
  /** Stream offset of the next byte to deliver. */
  nextPosition = 0;
  heldBytes = 0;
  private readonly held: HeldChunk[] = [];

  constructor(direction: Direction) {
    this.direction = direction;
  }

  get heldEvents(): number {
    return this.held.length;
  }

  offer(event: DataEvent, consumer: StreamConsumer, counters: Counters, limits: ReorderLimits): void {
    const position = event.position;
    const length = event.length;
    // The decoder's zero-copy range when present (no view per event), else `data`.
    const buffer = event.payloadBuffer;
    let data: Uint8Array;
    let dataStart: number;
    let dataBytes: number;
    if (buffer !== undefined) {
      data = buffer;
      dataStart = event.payloadStart ?? 0;
      dataBytes = event.payloadBytes ?? 0;
    } else {
      data = event.data;
      dataStart = 0;
      dataBytes = data.byteLength;
    }
    const captured = dataBytes < length ? dataBytes : length;
    const held = this.held;
    if (position === this.nextPosition && held.length === 0) {
      this.nextPosition = position + length;
      if (captured > 0) consumer.deliverData(this.direction, data, dataStart, dataStart + captured, event.timestampNs);
      if (length > captured) {
        counters.inc('gaps');
        counters.inc('gap_bytes', length - captured);
        consumer.deliverGap(this.direction, length - captured, event.timestampNs);
      }
      return;
    }
    if (position + length <= this.nextPosition) {
      counters.inc('stale_dropped');
      return;
    }
    if (position <= this.nextPosition) {
      this.deliverFrom(data, dataStart, captured, position, length, event.timestampNs, consumer, counters);
      this.drain(consumer, counters);
      return;
    }
    // Ahead of the stream: hold a copy, sorted by position.
    counters.inc('out_of_order');
    const chunk: HeldChunk = { position, length, timestampNs: event.timestampNs, data: data.slice(dataStart, dataStart + captured) };
    let at = held.length;
    while (at > 0 && held[at - 1]!.position > position) at--;
    held.splice(at, 0, chunk);
    this.heldBytes += captured;
    while (held.length > 0 && (held.length > limits.maxHeldEvents || this.heldBytes > limits.maxHeldBytes)) {
      counters.inc('reorder_overflow');
      this.skipToHeld(consumer, counters);
    }
    if (held.length > 0 && event.timestampNs - held[0]!.timestampNs > limits.reorderTimeoutNs) {
      counters.inc('reorder_timeout');
      this.skipToHeld(consumer, counters);
    }
  }

  /** Give up on held events older than the reorder timeout at `nowNs`. */
  expire(nowNs: number, consumer: StreamConsumer, counters: Counters, limits: ReorderLimits): void {
    while (this.held.length > 0 && nowNs - this.held[0]!.timestampNs > limits.reorderTimeoutNs) {
      counters.inc('reorder_timeout');
      this.skipToHeld(consumer, counters);
    }
  }

  /** Deliver everything held, missing ranges as gaps (the stream is ending). */
  flush(consumer: StreamConsumer, counters: Counters): void {
    while (this.held.length > 0) this.skipToHeld(consumer, counters);
  }

  /** Declare the bytes before the first held event lost, then deliver what became contiguous. */
  private skipToHeld(consumer: StreamConsumer, counters: Counters): void {
    const first = this.held[0]!;
    const missing = first.position - this.nextPosition;
    if (missing > 0) {
      counters.inc('gaps');
      counters.inc('gap_bytes', missing);
      consumer.deliverGap(this.direction, missing, first.timestampNs);
      this.nextPosition = first.position;
    }
    this.drain(consumer, counters);
  }

  private drain(consumer: StreamConsumer, counters: Counters): void {
    const held = this.held;
    while (held.length > 0 && held[0]!.position <= this.nextPosition) {
      const chunk = held.shift()!;
      this.heldBytes -= chunk.data.length;
      if (chunk.position + chunk.length <= this.nextPosition) {
        counters.inc('stale_dropped');
        continue;
      }
      this.deliverFrom(chunk.data, 0, chunk.data.length, chunk.position, chunk.length, chunk.timestampNs, consumer, counters);
    }
  }

  /** Deliver an event (captured bytes at `data[start, start + captured)`) that starts at or before nextPosition and ends after it. */
  private deliverFrom(
    data: Uint8Array,
    start: number,
    captured: number,
    position: number,
    length: number,
    timestampNs: number,
    consumer: StreamConsumer,
    counters: Counters,
  ): void {
    const skip = this.nextPosition - position;
    if (skip > 0) counters.inc('overlap_trimmed');
    this.nextPosition = position + length;
    if (skip < captured) consumer.deliverData(this.direction, data, start + skip, start + captured, timestampNs);
    const gapStart = skip > captured ? skip : captured;
    if (length > gapStart) {
      counters.inc('gaps');
      counters.inc('gap_bytes', length - gapStart);
      consumer.deliverGap(this.direction, length - gapStart, timestampNs);
    }
  }
}
