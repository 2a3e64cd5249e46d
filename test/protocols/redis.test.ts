// Real Redis traffic through a real agent: a redis-server started here, raw
// RESP connections from this process (one command at a time, several
// commands in one write, SUBSCRIBE/PUBLISH), and redis-cli --pipe, captured
// with eBPF and read back from redis_events with `wisp run`. Both sides are
// traced: redis-server (trace_role 2) and the clients (trace_role 1).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from '../support/agent.ts';
import { encode, RedisConnection, RedisProcess } from '../support/redis.ts';
import { requireCommand, run, waitFor } from '../support/processes.ts';

type Row = Record<string, unknown>;

function rowsScript(port: number): string {
  return `import px
df = px.DataFrame(table='redis_events', start_time='-5m')
df = df[((df.trace_role == 2) & (df.local_port == ${port})) | ((df.trace_role == 1) & (df.remote_port == ${port}))]
px.display(df[['time_', 'req_cmd', 'req_args', 'resp', 'latency', 'trace_role', 'local_port', 'remote_port']], 'rows')
`;
}

const line = (r: Row): string => `${r.req_cmd as string} ${r.req_args as string} ${r.resp as string}`;

describe('Redis capture (root, eBPF, real redis-server)', function () {
  this.timeout(120_000);
  let redis: RedisProcess;
  let agent: AgentProcess;

  before(async () => {
    // The server first: its readiness PING happens before capture starts.
    redis = await RedisProcess.start();
    agent = await AgentProcess.start();
  });
  after(async () => {
    await agent?.stop();
    await redis?.stop();
  });

  it('records commands, replies, pipelined batches and pub/sub pushes on both sides, in order', async () => {
    const conn = await RedisConnection.open(redis.port);
    const replies: string[] = [];
    for (const words of [['SET', 'name', 'wisp'], ['GET', 'name'], ['INCR', 'counter'], ['INCR', 'counter'], ['INCR', 'name'],
      ['DEL', 'name'], ['GET', 'name'], ['config', 'get', 'maxmemory']]) {
      replies.push(await conn.send(...words));
    }
    assert.equal(replies[4], '-ERR value is not an integer or out of range\r\n');
    // Three commands in one write: three replies, paired in order.
    const pipelined = await RedisConnection.open(redis.port);
    await pipelined.write(encode(['SET', 'p1', 'a']) + encode(['SET', 'p2', 'b']) + encode(['MGET', 'p1', 'p2']), 3);
    // Pub/sub: a subscriber gets a pushed message after PUBLISH on another connection.
    const subscriber = await RedisConnection.open(redis.port);
    await subscriber.send('SUBSCRIBE', 'news');
    const publisher = await RedisConnection.open(redis.port);
    assert.equal(await publisher.send('PUBLISH', 'news', 'hello'), ':1\r\n');
    assert.match(await subscriber.read(1), /message\r\n\$4\r\nnews\r\n\$5\r\nhello/);
    for (const c of [conn, pipelined, subscriber, publisher]) c.close();

    const expected = [
      'SET ["name","wisp"] OK', 'GET ["name"] wisp', 'INCR ["counter"] 1', 'INCR ["counter"] 2',
      'INCR ["name"] -ERR value is not an integer or out of range', 'DEL ["name"] 1', 'GET ["name"] <NULL>',
      'CONFIG GET ["maxmemory"] ["maxmemory","0"]',
      'SET ["p1","a"] OK', 'SET ["p2","b"] OK', 'MGET ["p1","p2"] ["a","b"]',
      'SUBSCRIBE ["news"] ["subscribe","news","1"]', 'PUBLISH ["news","hello"] 1', 'PUSH PUB [] ["message","news","hello"]',
    ];
    const rows = await waitFor('redis_events rows of both sides', async () => {
      const found = await agent.query(rowsScript(redis.port));
      return found.length >= 2 * expected.length ? found : undefined;
    }, 20_000);
    for (const role of [1, 2]) {
      const side = rows.filter((r) => r.trace_role === role).sort((a, b) => String(a.time_).localeCompare(String(b.time_)));
      assert.deepEqual(side.map(line), expected, `trace_role ${role}`);
      for (const r of side) {
        if (r.req_cmd === 'PUSH PUB') assert.equal(r.latency, 0);
        else assert.ok((r.latency as number) > 0, `latency of ${line(r)}`);
        assert.equal(role === 2 ? r.local_port : r.remote_port, redis.port);
      }
    }
  });

  it('records commands sent with redis-cli --pipe', async () => {
    const cli = requireCommand('redis-cli', 'redis-tools');
    const input = encode(['RPUSH', 'queue', 'x']) + encode(['RPUSH', 'queue', 'y']) + encode(['LRANGE', 'queue', '0', '-1']);
    const result = await run(cli, ['-p', String(redis.port), '--pipe'], { input });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /errors: 0, replies: 3/);
    const rows = await waitFor('redis-cli --pipe rows', async () => {
      const found = (await agent.query(rowsScript(redis.port))).filter((r) => r.trace_role === 1 && String(r.req_args).includes('queue'));
      return found.length >= 3 ? found : undefined;
    }, 20_000);
    assert.deepEqual(rows.map(line).sort(), ['LRANGE ["queue","0","-1"] ["x","y"]', 'RPUSH ["queue","x"] 1', 'RPUSH ["queue","y"] 2']);
  });
});
