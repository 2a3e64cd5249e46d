import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { renderGrpcBody } from './grpc-body.ts';
import { concat, grpcMessage, text } from './test-helpers.ts';

const render = (body: Uint8Array, captured = body.length): string => renderGrpcBody(body, captured, body.length);

describe('renderGrpcBody', () => {
  it('shows protobuf wire fields without a schema: varints, fixed widths, text and nested messages', () => {
    const nested = concat(Uint8Array.of(0x0a, 0x03), text('abc'));
    const message = concat(
      Uint8Array.of(0x08, 0x96, 0x01), // 1: varint 150
      Uint8Array.of(0x15, 1, 0, 0, 0), // 2: fixed32 1
      Uint8Array.of(0x19, 2, 0, 0, 0, 0, 0, 0, 0), // 3: fixed64 2
      Uint8Array.of(0x22, nested.length), nested, // 4: a nested message
      Uint8Array.of(0x2a, 0x02, 0xff, 0x00), // 5: bytes that are neither text nor a message
    );
    assert.equal(render(grpcMessage(message)), '{1:150 2:1 3:2 4:{1:"abc"} 5:<2 bytes>}');
  });

  it('separates messages and says when one is compressed, cut by the capture or not a message', () => {
    const body = concat(grpcMessage(text('\n\u0001a')), grpcMessage(text('zz'), true), grpcMessage(Uint8Array.of(0x07)), grpcMessage(new Uint8Array(100)));
    assert.equal(render(body, body.length - 60), '{1:"a"} <2 bytes compressed> <1 bytes> <100 bytes, 40 captured>');
  });

  it('renders an empty message and a body that ends inside a prefix', () => {
    assert.equal(render(grpcMessage(new Uint8Array(0))), '{}');
    assert.equal(render(Uint8Array.of(0, 0, 0)), '<3 bytes, 3 captured>');
  });
});
