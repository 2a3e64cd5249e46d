import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { Direction, TraceRole } from '../../bpf/events.ts';
import { SyntheticConnection } from '../../conn/replay.ts';
import { replay } from '../../conn/test-helpers.ts';
import { HttpContentType } from '../http1/http-exchange.ts';
import { InferResult } from '../protocol.ts';
import { inferHttp2 } from './http2-session.ts';
import { CLIENT_PREFACE, concat, Flag, frame, FrameType, grpcMessage, headerBlock, indexedField, text } from './test-helpers.ts';

const SETTINGS = frame(FrameType.Settings, 0, 0, new Uint8Array(6));
const SETTINGS_ACK = frame(FrameType.Settings, Flag.Ack, 0);
const EH = Flag.EndHeaders;
const ES = Flag.EndStream;

function headers(streamId: number, fields: [string, string][], flags: number = EH): Uint8Array {
  return frame(FrameType.Headers, flags, streamId, headerBlock(fields));
}
const data = (streamId: number, body: string | Uint8Array, flags: number = 0): Uint8Array =>
  frame(FrameType.Data, flags, streamId, typeof body === 'string' ? text(body) : body);

/** Client side of a connection: requests on egress. */
function client(connId = 1): SyntheticConnection {
  return new SyntheticConnection({ connId, role: TraceRole.Client, stepNs: 1_000 }).open();
}

/** protobuf: field 1, length-delimited text. */
const pbString = (value: string): Uint8Array => concat(Uint8Array.of(0x0a, value.length), text(value));

describe('Http2Session', () => {
  describe('inference', () => {
    it('takes the client preface for requests and a first SETTINGS frame for responses', () => {
      assert.equal(inferHttp2(CLIENT_PREFACE, 0, 24), InferResult.Request);
      assert.equal(inferHttp2(CLIENT_PREFACE, 0, 10), InferResult.NeedMore);
      assert.equal(inferHttp2(SETTINGS, 0, 9), InferResult.Response);
      assert.equal(inferHttp2(SETTINGS, 0, 4), InferResult.NeedMore);
      assert.equal(inferHttp2(SETTINGS_ACK, 0, 9), InferResult.NoMatch);
      assert.equal(inferHttp2(text('GET / HTTP/1.1\r\n'), 0, 16), InferResult.NoMatch);
    });
  });

  describe('with interleaved streams on one connection', () => {
    it('pairs each stream by id, with CONTINUATION, padding and priority stripped', () => {
      const big = 'v'.repeat(300);
      const block3 = headerBlock([[':method', 'POST'], [':path', '/b'], [':scheme', 'http'], [':authority', 'h'], ['content-type', 'application/json'], ['x-big', big]]);
      const padded = concat(Uint8Array.of(3), Uint8Array.of(0, 0, 0, 1, 16), block3.subarray(0, 100), new Uint8Array(3));
      const c = client()
        .request(concat(CLIENT_PREFACE, SETTINGS))
        .request(headers(1, [[':method', 'GET'], [':path', '/a'], [':scheme', 'http'], [':authority', 'h']], EH | ES))
        .request(concat(
          frame(FrameType.Headers, Flag.Padded | Flag.Priority, 3, padded),
          frame(FrameType.Continuation, 0, 3, block3.subarray(100, 200)),
          frame(FrameType.Continuation, EH, 3, block3.subarray(200)),
          frame(FrameType.Data, Flag.Padded | ES, 3, concat(Uint8Array.of(4), text('{"x":1}'), new Uint8Array(4))),
        ))
        .response(concat(SETTINGS, SETTINGS_ACK))
        .response(headers(3, [[':status', '201'], ['content-type', 'application/json']]))
        .response(headers(1, [[':status', '200'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']]))
        .response(data(3, '{"id":7}', ES))
        .response(concat(data(1, 'hello '), data(1, 'world', ES)))
        .close();
      const { exchanges, conns, tracker } = replay(c.events);
      assert.deepEqual(exchanges.map((e) => [e.reqMethod, e.reqPath, e.respStatus, e.respMessage]), [
        ['POST', '/b', 201, 'Created'],
        ['GET', '/a', 200, 'OK'],
      ]);
      const [post, get] = exchanges as [typeof exchanges[0], typeof exchanges[0]];
      assert.equal(post.majorVersion, 2);
      assert.equal(post.minorVersion, 0);
      assert.equal(post.contentType, HttpContentType.Json);
      assert.equal(post.reqBody, '{"x":1}');
      assert.equal(post.reqBodySize, 7);
      assert.equal(post.respBody, '{"id":7}');
      assert.equal(JSON.parse(post.reqHeaders)['x-big'], big);
      assert.deepEqual(JSON.parse(get.reqHeaders), { ':method': 'GET', ':path': '/a', ':scheme': 'http', ':authority': 'h' });
      assert.deepEqual(JSON.parse(get.respHeaders), { ':status': '200', 'set-cookie': 'a=1, b=2' });
      assert.equal(get.respBody, 'hello world');
      assert.equal(get.respBodySize, 11);
      assert.ok(get.latencyNs > 0 && get.latencyNs === get.respEndNs - get.reqStartNs);
      assert.equal(conns[0]!.role, TraceRole.Client);
      assert.equal(tracker.stats()['records.http2'], 2);
    });

    it('keeps the HPACK dynamic table across streams and gives the same rows when bytes arrive one at a time', () => {
      const request = concat(
        CLIENT_PREFACE, SETTINGS,
        frame(FrameType.Headers, EH | ES, 1, concat(headerBlock([[':method', 'GET'], [':path', '/same']], { indexed: true }))),
        frame(FrameType.Headers, EH | ES, 3, concat(indexedField(63), indexedField(62))),
      );
      const response = concat(SETTINGS, headers(1, [[':status', '204']], EH | ES), headers(3, [[':status', '204']], EH | ES));
      const whole = replay(client().request(request).response(response).close().events);
      const c = client();
      for (let k = 0; k < request.length; k++) c.request(request.subarray(k, k + 1));
      for (let k = 0; k < response.length; k++) c.response(response.subarray(k, k + 1));
      const split = replay(c.close().events);
      for (const { exchanges } of [whole, split]) {
        assert.deepEqual(exchanges.map((e) => `${e.reqMethod} ${e.reqPath} ${e.respStatus}`), ['GET /same 204', 'GET /same 204']);
      }
    });
  });

  describe('with gRPC', () => {
    const grpcRequest = (streamId: number, path: string, body: Uint8Array): Uint8Array => concat(
      headers(streamId, [[':method', 'POST'], [':path', path], [':scheme', 'http'], ['content-type', 'application/grpc'], ['te', 'trailers']]),
      data(streamId, body, ES),
    );

    it('takes grpc-status from the trailers and renders messages without a descriptor', () => {
      const c = client()
        .request(concat(CLIENT_PREFACE, SETTINGS, grpcRequest(1, '/helloworld.Greeter/SayHello', grpcMessage(pbString('world')))))
        .response(concat(
          SETTINGS,
          headers(1, [[':status', '200'], ['content-type', 'application/grpc+proto']]),
          data(1, grpcMessage(concat(pbString('Hello world'), Uint8Array.of(0x10, 0x2a)))),
          headers(1, [['grpc-status', '0'], ['grpc-message', '']], EH | ES),
        ))
        .close();
      const [row] = replay(c.events).exchanges;
      assert.equal(row!.contentType, HttpContentType.Grpc);
      assert.equal(row!.reqPath, '/helloworld.Greeter/SayHello');
      assert.equal(row!.respStatus, 200);
      assert.equal(row!.respMessage, 'OK');
      assert.equal(row!.reqBody, '{1:"world"}');
      assert.equal(row!.reqBodySize, 5 + 7);
      assert.equal(row!.respBody, '{1:"Hello world" 2:42}');
      assert.equal(JSON.parse(row!.respHeaders)['grpc-status'], '0');
    });

    it('shows an error status of a Trailers-Only response', () => {
      const c = client()
        .request(concat(CLIENT_PREFACE, SETTINGS, grpcRequest(1, '/pkg.Svc/Find', grpcMessage(pbString('x')))))
        .response(concat(SETTINGS, headers(1, [[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '5'], ['grpc-message', 'no such thing']], EH | ES)))
        .close();
      const [row] = replay(c.events).exchanges;
      assert.equal(row!.respMessage, 'NOT_FOUND');
      assert.deepEqual(JSON.parse(row!.respHeaders), { ':status': '200', 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no such thing' });
      assert.equal(row!.respBodySize, 0);
    });

    it('counts several messages of a stream, compressed ones and those cut by the capture limit', () => {
      const messages = concat(grpcMessage(pbString('a')), grpcMessage(text('zz'), true), grpcMessage(new Uint8Array(1000).fill(0x41)));
      const c = client()
        .request(concat(CLIENT_PREFACE, SETTINGS, grpcRequest(1, '/pkg.Svc/Stream', messages)))
        .response(concat(SETTINGS, headers(1, [[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '0']], EH | ES)))
        .close();
      const [row] = replay(c.events, { maxBodyBytes: 64 }).exchanges;
      assert.equal(row!.reqBody, '{1:"a"} <2 bytes compressed> <1000 bytes, 44 captured>');
      assert.equal(row!.reqBodySize, messages.length);
    });
  });

  describe('on the server side', () => {
    it('infers HTTP/2 from the SETTINGS the server writes before reading the preface', () => {
      const s = new SyntheticConnection({ connId: 9, role: TraceRole.Server }).open()
        .response(SETTINGS)
        .request(concat(CLIENT_PREFACE, SETTINGS, headers(1, [[':method', 'GET'], [':path', '/s']], EH | ES)))
        .response(concat(SETTINGS_ACK, headers(1, [[':status', '404']], EH | ES)))
        .close();
      const { exchanges, conns } = replay(s.events);
      assert.deepEqual(exchanges.map((e) => `${e.reqPath} ${e.respStatus} ${e.respMessage}`), ['/s 404 Not Found']);
      assert.equal(conns[0]!.role, TraceRole.Server);
    });
  });

  describe('with bytes the kernel did not capture', () => {
    it('counts a gap inside DATA as body bytes and keeps parsing', () => {
      const body = 'b'.repeat(5000);
      const head = concat(SETTINGS, headers(1, [[':status', '200']]));
      const c = client()
        .request(concat(CLIENT_PREFACE, SETTINGS, headers(1, [[':method', 'GET'], [':path', '/big']], EH | ES)))
        .response(concat(head, data(1, body, ES)), { capturedBytes: 100 })
        .request(headers(3, [[':method', 'GET'], [':path', '/next']], EH | ES))
        .response(headers(3, [[':status', '200']], EH | ES))
        .close();
      const { exchanges } = replay(c.events);
      assert.deepEqual(exchanges.map((e) => [e.reqPath, e.respBodySize]), [['/big', 5000], ['/next', 0]]);
      assert.equal(exchanges[0]!.respBody, 'b'.repeat(100 - head.length - 9), 'the captured part of the DATA frame');
    });

    it('stops the session, counted, when a header block was lost', () => {
      const c = client()
        .request(concat(CLIENT_PREFACE, SETTINGS))
        .request(headers(1, [[':method', 'GET'], [':path', '/lost']], EH | ES), { capturedBytes: 12 })
        .response(concat(SETTINGS, headers(1, [[':status', '200']], EH | ES)))
        .request(headers(3, [[':method', 'GET'], [':path', '/after']], EH | ES))
        .close();
      const { exchanges, tracker } = replay(c.events);
      assert.equal(exchanges.length, 0);
      assert.equal(tracker.stats()['gap_lost.http2'], 1);
    });
  });

  describe('with hostile input', () => {
    it('counts a malformed frame and stops without throwing', () => {
      const c = client()
        .request(concat(CLIENT_PREFACE, frame(FrameType.Settings, 0, 1, new Uint8Array(6))))
        .response(SETTINGS)
        .close();
      const { exchanges, tracker } = replay(c.events);
      assert.equal(exchanges.length, 0);
      assert.equal(tracker.stats()['parse_error.http2.bad_frame'], 1);
    });

    it('bounds the streams in flight', () => {
      const c = client().request(concat(CLIENT_PREFACE, SETTINGS));
      for (let id = 1; id < 2 * 300; id += 2) c.request(headers(id, [[':method', 'GET'], [':path', `/${id}`]], EH | ES));
      c.send(Direction.Ingress, SETTINGS).close();
      const { tracker } = replay(c.events);
      assert.equal(tracker.stats()['stream_overflow.http2'], 300 - 256);
      assert.equal(tracker.stats()['unmatched_request.http2'], 256);
    });

    it('refuses a header block over its bound', () => {
      const huge = headerBlock([['x', 'y'.repeat(70_000)]]);
      const c = client().request(concat(CLIENT_PREFACE, SETTINGS, frame(FrameType.Headers, EH, 1, huge))).response(SETTINGS).close();
      const { tracker } = replay(c.events);
      assert.equal(tracker.stats()['parse_error.http2.header_block_too_large'], 1);
    });
  });
});
