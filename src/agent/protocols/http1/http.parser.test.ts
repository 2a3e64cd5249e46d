import assert from 'node:assert/strict';
import { Direction, TraceRole } from '../../bpf/events.ts';
import { SyntheticConnection } from '../../conn/replay.ts';
import { countPrefix, replay } from '../../conn/test-helpers.ts';
import { HttpContentType } from './http-exchange.ts';

const REQUEST = 'GET /items?id=7 HTTP/1.1\r\nHost: shop\r\nAccept: application/json\r\n\r\n';
const RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"id":7,"n":1}'.replace(
  '13',
  String('{"id":7,"n":1}'.length),
);

function conn(role: TraceRole = TraceRole.Server): SyntheticConnection {
  return new SyntheticConnection({ connId: 1, role }).open();
}

/** Send `text` in pieces cut at `cuts` (ascending offsets). */
function sendSplit(c: SyntheticConnection, direction: Direction, text: string, cuts: readonly number[]): void {
  const bytes = new TextEncoder().encode(text);
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) c.send(direction, bytes.slice(from, cut));
    from = cut;
  }
}

describe('HttpParser', () => {
  describe('with a simple keep-alive exchange', () => {
    it('reports method, path, status, headers JSON, body and timestamps', () => {
      const c = conn().request(REQUEST).response(RESPONSE).close();
      const { exchanges, conns } = replay(c.events);
      assert.equal(exchanges.length, 1);
      const e = exchanges[0]!;
      assert.equal(e.reqMethod, 'GET');
      assert.equal(e.reqPath, '/items?id=7');
      assert.deepEqual(JSON.parse(e.reqHeaders), { Host: 'shop', Accept: 'application/json' });
      assert.equal(e.respStatus, 200);
      assert.equal(e.respMessage, 'OK');
      assert.equal(e.respBody, '{"id":7,"n":1}');
      assert.equal(e.respBodySize, 14);
      assert.equal(e.contentType, HttpContentType.Json);
      assert.equal(e.majorVersion, 1);
      assert.equal(e.minorVersion, 1);
      assert.ok(e.respEndNs > e.reqStartNs);
      assert.equal(e.latencyNs, e.respEndNs - e.reqStartNs);
      assert.equal(conns[0]!.role, TraceRole.Server);
      assert.equal(conns[0]!.localPort, 8080);
    });

    it('escapes quotes and backslashes of header values in the headers JSON', () => {
      const response = 'HTTP/1.1 304 Not Modified\r\nETag: "5f3a-1c"\r\nX-Path: C:\\tmp\r\n\r\n';
      const c = conn().request(REQUEST).response(response).close();
      const { exchanges } = replay(c.events);
      assert.deepEqual(JSON.parse(exchanges[0]!.respHeaders), { ETag: '"5f3a-1c"', 'X-Path': 'C:\\tmp' });
    });

    it('pairs several requests on one connection in order', () => {
      const c = conn();
      for (let k = 0; k < 5; k++) {
        c.request(`GET /r${k} HTTP/1.1\r\nHost: a\r\n\r\n`).response(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n#${k}`);
      }
      const { exchanges } = replay(c.close().events);
      assert.deepEqual(
        exchanges.map((e) => [e.reqPath, e.respBody]),
        [0, 1, 2, 3, 4].map((k) => [`/r${k}`, `#${k}`]),
      );
    });
  });

  describe('with reads split at every byte boundary', () => {
    const wire = REQUEST + 'POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n0\r\nX-T: 1\r\n\r\n';
    const answer = RESPONSE + 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n';

    it('parses the same exchanges for every single cut of both directions', () => {
      for (let cut = 0; cut <= wire.length; cut++) {
        const respCut = Math.min(cut, answer.length);
        const c = conn();
        sendSplit(c, Direction.Ingress, wire, [cut]);
        sendSplit(c, Direction.Egress, answer, [respCut]);
        const { exchanges, tracker } = replay(c.close().events);
        assert.equal(exchanges.length, 2, `cut ${cut}`);
        assert.equal(exchanges[1]!.reqBody, 'abcd', `cut ${cut}`);
        assert.equal(exchanges[1]!.respBody, 'ok', `cut ${cut}`);
        assert.equal(exchanges[0]!.respBody, '{"id":7,"n":1}', `cut ${cut}`);
        assert.equal(countPrefix(tracker.stats(), 'parse_error'), 0, `cut ${cut}`);
      }
    });

    it('parses the same exchanges when every byte is its own read', () => {
      const c = conn();
      const cuts = (n: number) => Array.from({ length: n }, (_, k) => k);
      sendSplit(c, Direction.Ingress, wire, cuts(wire.length));
      sendSplit(c, Direction.Egress, answer, cuts(answer.length));
      const { exchanges } = replay(c.close().events);
      assert.deepEqual(
        exchanges.map((e) => [e.reqMethod, e.reqBody, e.reqBodySize, e.respStatus, e.respBody]),
        [
          ['GET', '', 0, 200, '{"id":7,"n":1}'],
          ['POST', 'abcd', 4, 201, 'ok'],
        ],
      );
    });
  });

  describe('with pipelined requests', () => {
    it('pairs responses with requests first in, first out', () => {
      const c = conn()
        .request('GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n')
        .response('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA')
        .response('HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n') // HEAD: no body despite the length
        .response('HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nC')
        .close();
      const { exchanges } = replay(c.events);
      assert.deepEqual(
        exchanges.map((e) => [e.reqPath, e.respStatus, e.respBody]),
        [
          ['/a', 200, 'A'],
          ['/b', 200, ''],
          ['/c', 404, 'C'],
        ],
      );
    });
  });

  describe('with a chunked body', () => {
    it('reports the decoded body size and ignores extensions and trailers', () => {
      const c = conn()
        .request('GET / HTTP/1.1\r\n\r\n')
        .response('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;a=b;c\r\nhello\r\n')
        .response('6\r\n world\r\n0\r\nExpires: never\r\nX-Other: 2\r\n\r\n')
        .close();
      const { exchanges } = replay(c.events);
      assert.equal(exchanges.length, 1);
      assert.equal(exchanges[0]!.respBody, 'hello world');
      assert.equal(exchanges[0]!.respBodySize, 11);
      assert.deepEqual(JSON.parse(exchanges[0]!.respHeaders), { 'Transfer-Encoding': 'gzip, chunked' });
    });

    it('counts a malformed chunk size and recovers on the next response', () => {
      const c = conn()
        .request('GET /1 HTTP/1.1\r\n\r\n')
        .response('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')
        .request('GET /2 HTTP/1.1\r\n\r\n')
        .response('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
        .close();
      const { exchanges, tracker } = replay(c.events);
      assert.equal(tracker.stats()['parse_error.http1.bad_chunk_size'], 1);
      assert.deepEqual(
        exchanges.map((e) => [e.reqPath, e.respBody]),
        [['/2', 'ok']],
      );
    });
  });

  describe('with Expect: 100-continue', () => {
    it('skips the interim response and pairs the final one', () => {
      const c = conn()
        .request('PUT /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n')
        .response('HTTP/1.1 100 Continue\r\n\r\n')
        .request('data')
        .response('HTTP/1.1 204 No Content\r\n\r\n')
        .close();
      const { exchanges, tracker } = replay(c.events);
      assert.equal(exchanges.length, 1);
      assert.equal(exchanges[0]!.reqBody, 'data');
      assert.equal(exchanges[0]!.respStatus, 204);
      assert.equal(tracker.stats()['interim_response.http1'], 1);
    });
  });

  describe('with responses that have no body', () => {
    for (const [status, reason] of [
      [204, 'No Content'],
      [304, 'Not Modified'],
    ] as const) {
      it(`reads no body after ${status} even with a Content-Length`, () => {
        const c = conn()
          .request('GET /x HTTP/1.1\r\n\r\n')
          .response(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: 10\r\n\r\n`)
          .request('GET /y HTTP/1.1\r\n\r\n')
          .response('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ny')
          .close();
        const { exchanges } = replay(c.events);
        assert.deepEqual(
          exchanges.map((e) => [e.respStatus, e.respBody]),
          [
            [status, ''],
            [200, 'y'],
          ],
        );
      });
    }
  });

  describe('with 101 Switching Protocols', () => {
    it('emits the upgrade exchange and stops parsing the connection', () => {
      const c = conn()
        .request('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
        .response('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n')
        .response(new Uint8Array([0x81, 0x02, 0x68, 0x69]))
        .request(new Uint8Array([0x81, 0x82, 1, 2, 3, 4, 5, 6]))
        .close();
      const { exchanges, tracker } = replay(c.events);
      assert.equal(exchanges.length, 1);
      assert.equal(exchanges[0]!.respStatus, 101);
      const stats = tracker.stats();
      assert.equal(countPrefix(stats, 'parse_error'), 0);
      assert.equal(stats['upgraded.http1'], 1);
    });
  });

  describe('with a response delimited by the connection close', () => {
    it('emits it when the connection closes, HTTP/1.0 style', () => {
      const c = conn()
        .request('GET /old HTTP/1.0\r\n\r\n')
        .response('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst ')
        .response('second');
      const before = replay(c.events);
      assert.equal(before.exchanges.length, 0);
      const { exchanges } = replay(c.close().events);
      assert.equal(exchanges.length, 1);
      assert.equal(exchanges[0]!.minorVersion, 0);
      assert.equal(exchanges[0]!.respBody, 'first second');
      assert.equal(exchanges[0]!.respBodySize, 12);
    });
  });

  describe('with a body longer than maxBodyBytes', () => {
    it('keeps the first maxBodyBytes as text and the real size', () => {
      const body = 'x'.repeat(300) + 'y'.repeat(300);
      const c = conn()
        .request(`POST /big HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 100)}`)
        .request(body.slice(100))
        .response(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
        .close();
      const { exchanges } = replay(c.events, { maxBodyBytes: 512 });
      assert.equal(exchanges[0]!.reqBody, body.slice(0, 512));
      assert.equal(exchanges[0]!.reqBodySize, 600);
      assert.equal(exchanges[0]!.respBody, body.slice(0, 512));
      assert.equal(exchanges[0]!.respBodySize, 600);
    });
  });

  describe('with unusual headers', () => {
    it('joins repeated names, unfolds obs-fold, trims OWS and escapes JSON', () => {
      const c = conn()
        .request('GET / HTTP/1.1\r\nAccept: a\r\nX-Q: say "hi" \\ back\r\naccept:  b \t\r\nX-Fold: one\r\n  two\r\nX-Tab: a\tb\r\n\r\n')
        .response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
        .close();
      const { exchanges } = replay(c.events);
      assert.deepEqual(JSON.parse(exchanges[0]!.reqHeaders), {
        Accept: 'a, b',
        'X-Q': 'say "hi" \\ back',
        'X-Fold': 'one two',
        'X-Tab': 'a\tb',
      });
    });

    it('accepts bare LF line ends', () => {
      const c = conn().request('GET /lf HTTP/1.1\nHost: h\n\n').response('HTTP/1.1 200 OK\nContent-Length: 1\n\nz').close();
      const { exchanges } = replay(c.events);
      assert.equal(exchanges[0]!.reqPath, '/lf');
      assert.equal(exchanges[0]!.respBody, 'z');
    });

    it('detects gRPC content', () => {
      const c = conn()
        .request('POST /svc/Method HTTP/1.1\r\nContent-Type: application/grpc+proto\r\nContent-Length: 0\r\n\r\n')
        .response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
        .close();
      assert.equal(replay(c.events).exchanges[0]!.contentType, HttpContentType.Grpc);
    });
  });

  describe('with malformed input', () => {
    it('counts a bad request line and resyncs at the next request', () => {
      const c = conn()
        .request('GET /ok HTTP/1.1\r\n\r\n')
        .response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
        .request('GET nothing-here\r\n\r\n')
        .request('GET /again HTTP/1.1\r\n\r\n')
        .response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
        .close();
      const { exchanges, tracker } = replay(c.events);
      assert.equal(tracker.stats()['parse_error.http1.bad_request_line'], 1);
      assert.deepEqual(
        exchanges.map((e) => e.reqPath),
        ['/ok', '/again'],
      );
    });

    it('bounds the head at maxHeaderBytes', () => {
      const c = conn()
        .request(`GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`)
        .response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
        .close();
      const { exchanges, tracker } = replay(c.events, { maxHeaderBytes: 1024 });
      assert.equal(exchanges.length, 0);
      assert.equal(tracker.stats()['parse_error.http1.header_too_large'], 1);
    });

    it('rejects conflicting Content-Length values', () => {
      const c = conn().request('POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd').close();
      const { tracker } = replay(c.events);
      assert.equal(tracker.stats()['parse_error.http1.bad_content_length'], 1);
    });
  });
});
