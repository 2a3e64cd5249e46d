// Throughput of track + parse for small keep-alive GETs on server-side
// connections: `node src/agent/conn/connection-tracker.bench.ts [pairs]`.
// Prints pairs per CPU-second for the tracker alone and for the replayer + tracker
// (one copy per event, as the decoder's drain buffer costs), and the ratio to
// a same-run baseline: decoding every event's bytes once as latin1, the
// least work any string-producing parser does.

import type { DataEvent } from '../src/agent/bpf/events.ts';
import { latin1 } from '../src/agent/bytes.ts';
import { ConnectionTracker } from '../src/agent/conn/connection-tracker.ts';
import type { SocketEvent } from '../src/agent/conn/replay.ts';
import { SyntheticConnection, replaySocketEvents } from '../src/agent/conn/replay.ts';

const REQUEST =
  'GET /api/v1/catalog/items?id=12345 HTTP/1.1\r\nHost: catalog.shop.svc:8080\r\nUser-Agent: curl/8.5.0\r\n' +
  'Accept: */*\r\nX-Request-Id: 9f3c2a1b\r\n\r\n';
const BODY = '{"id":12345,"name":"widget","price":9.99}';
const RESPONSE =
  'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n' +
  `Server: nginx/1.22.1\r\nConnection: keep-alive\r\nCache-Control: no-cache\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;

function buildEvents(pairs: number, connections: number): SocketEvent[] {
  const conns: SyntheticConnection[] = [];
  for (let c = 0; c < connections; c++) conns.push(new SyntheticConnection({ connId: c + 1 }).open());
  for (let k = 0; k < pairs; k++) {
    const conn = conns[k % connections]!;
    conn.request(REQUEST).response(RESPONSE);
  }
  for (const conn of conns) conn.close();
  // Interleave connections the way a busy node's ring buffer does.
  const out: SocketEvent[] = [];
  for (const conn of conns) out.push(conn.events[0]!);
  const cursors = conns.map(() => 1);
  let left = true;
  while (left) {
    left = false;
    for (let c = 0; c < conns.length; c++) {
      const events = conns[c]!.events;
      const at = cursors[c]!;
      if (at < events.length) {
        out.push(events[at]!, ...(at + 1 < events.length ? [events[at + 1]!] : []));
        cursors[c] = at + 2;
        left = true;
      }
    }
  }
  return out;
}

function run(label: string, pairs: number, feed: (tracker: ConnectionTracker) => void): number {
  let records = 0;
  const tracker = new ConnectionTracker({ sinks: { onHttp: () => void records++ } });
  // CPU time, not wall time: the figure is per core and survives a busy machine.
  const t0 = process.cpuUsage();
  feed(tracker);
  const used = process.cpuUsage(t0);
  const seconds = (used.user + used.system) / 1e6;
  if (records !== pairs) throw new Error(`${label}: ${records} records, expected ${pairs}`);
  return pairs / seconds;
}

const pairs = Number(process.argv[2] ?? 1_000_000);
const events = buildEvents(pairs, 64);
console.log(`request ${REQUEST.length} B, response ${RESPONSE.length} B, ${pairs} pairs over 64 connections`);
function baseline(): number {
  const t0 = process.cpuUsage();
  let chars = 0;
  for (const item of events) if (item.kind === 'data') chars += latin1(item.event.data, 0, item.event.data.length).length;
  const used = process.cpuUsage(t0);
  if (chars === 0) throw new Error('no data');
  return pairs / ((used.user + used.system) / 1e6);
}

for (let round = 0; round < 3; round++) {
  const base = baseline();
  const direct = run('direct', pairs, (tracker) => {
    for (const item of events) {
      if (item.kind === 'data') tracker.onData(item.event as DataEvent);
      else if (item.kind === 'open') tracker.onOpen(item.event);
      else tracker.onClose(item.event);
    }
  });
  const replayed = run('replay', pairs, (tracker) => replaySocketEvents(tracker, events));
  console.log(
    `round ${round}: track+parse ${Math.round(direct).toLocaleString('en')} pairs/s; ` +
      `replay+track+parse ${Math.round(replayed).toLocaleString('en')} pairs/s; ` +
      `baseline (latin1 of every event) ${Math.round(base).toLocaleString('en')} pairs/s, ratio ${(direct / base).toFixed(2)}`,
  );
}
