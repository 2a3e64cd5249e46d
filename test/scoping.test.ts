// Collector scoping applied by a real standalone agent to real traffic: the
// agent runs with `--sources http,pgsql --data-access PIIRestricted
// --max-body-bytes 64`; nginx (curl as the client), PostgreSQL (psql) and
// Redis serve real requests captured with eBPF, and the stored rows are read
// back with `wisp run`. Redis is a disabled source: its records are dropped
// and counted, while HTTP and pgsql rows are stored, masked and cut.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from './support/agent.ts';
import { NginxProcess } from './support/nginx.ts';
import { PostgresProcess } from './support/postgres.ts';
import { RedisConnection, RedisProcess } from './support/redis.ts';
import { requireCommand, run, waitFor } from './support/processes.ts';

const MAX_BODY_BYTES = 64;
const PAGE = `contact dave@example.com or call ${'x'.repeat(300)}`;
const TOKEN = 'sk_live_51H8kQ2eZvKYlo2C0aBcDeFgHiJkL';
const CARD = '4111111111111111';

function metric(text: string, name: string, reason: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{reason="${reason}"} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

describe('Collector scoping (root, eBPF, nginx + curl, postgres, redis)', function () {
  this.timeout(120_000);
  let agent: AgentProcess;
  let nginx: NginxProcess;
  let postgres: PostgresProcess;
  let redis: RedisProcess;
  let curl: string;

  before(async () => {
    curl = requireCommand('curl', 'curl');
    agent = await AgentProcess.start(['--sources', 'http,pgsql', '--data-access', 'PIIRestricted', '--max-body-bytes', String(MAX_BODY_BYTES)]);
    // sendfile off: bodies sent with sendfile() are not captured (no user-space buffer).
    nginx = await NginxProcess.start({ 'page.html': PAGE }, { sendfile: false });
    postgres = await PostgresProcess.start();
    redis = await RedisProcess.start();
  });
  after(async () => {
    await redis?.stop();
    await postgres?.stop();
    await nginx?.stop();
    await agent?.stop();
  });

  it('masks an e-mail, a card number and a bearer token in a stored HTTP request, and cuts bodies at maxBodyBytes', async () => {
    const url = `http://127.0.0.1:${nginx.port}/page.html`;
    const post = await run(curl, ['-s', '-o', '/dev/null', '-H', `Authorization: Bearer ${TOKEN}`, '-H', 'X-User: alice@example.com',
      '--data', `email=bob@example.org&card=${CARD}&note=hi`, `${url}?email=carol@example.com`]);
    assert.equal(post.code, 0, post.stderr);
    const get = await run(curl, ['-s', '-o', '/dev/null', url]);
    assert.equal(get.code, 0, get.stderr);
    const script = `import px
df = px.DataFrame(table='http_events', start_time='-5m')
df = df[(df.trace_role == 1) & (df.remote_port == ${nginx.port})]
px.display(df[['req_method', 'req_path', 'req_headers', 'req_body', 'resp_body', 'resp_body_size']], 'rows')
`;
    const rows = await waitFor('both curl requests in http_events', async () => {
      const found = await agent.query(script);
      return found.some((r) => r.req_method === 'POST') && found.some((r) => r.req_path === '/page.html') ? found : undefined;
    }, 20_000);
    // Other tests on this host may reuse the port number: pick curl's rows by what they asked.
    const postRow = rows.find((r) => r.req_method === 'POST' && String(r.req_path).startsWith('/page.html'))!;
    const everything = JSON.stringify(rows);
    for (const secret of ['alice@example.com', 'bob@example.org', 'carol@example.com', 'dave@example.com', CARD, TOKEN]) {
      assert.ok(!everything.includes(secret), `${secret} is stored: ${everything}`);
    }
    const headers = JSON.parse(postRow.req_headers as string) as Record<string, string>;
    assert.equal(headers.Authorization, '[REDACTED]');
    assert.equal(headers['X-User'], '[EMAIL]');
    assert.equal(postRow.req_body, 'email=[EMAIL]&card=[CARD]&note=hi');
    assert.equal(postRow.req_path, '/page.html?email=[EMAIL]');
    const getRow = rows.find((r) => r.req_method === 'GET' && r.req_path === '/page.html')!;
    assert.equal(getRow.resp_body_size, PAGE.length, `the original size is kept: ${JSON.stringify(rows)}`);
    // Cut at MAX_BODY_BYTES by the parser, then masked.
    const head = 'contact dave@example.com or call ';
    assert.equal(getRow.resp_body, `contact [EMAIL] or call ${'x'.repeat(MAX_BODY_BYTES - head.length)}`);
  });

  it('replaces SQL literals of a psql query by placeholders in pgsql_events', async () => {
    const result = await postgres.psql(
      "SELECT 'erin@ex.com' e, 4111111111111111 c, 42 n, 'it''s' s",
    );
    assert.equal(result.code, 0, result.stderr);
    const script = `import px
df = px.DataFrame(table='pgsql_events', start_time='-5m')
df = df[(df.trace_role == 1) & (df.remote_port == ${postgres.port})]
px.display(df[['req_cmd', 'req', 'resp']], 'rows')
`;
    const rows = await waitFor('the psql query in pgsql_events', async () => {
      const found = await agent.query(script);
      return found.some((r) => String(r.req).startsWith('SELECT ? e')) ? found : undefined;
    }, 20_000);
    // Shorter than maxBodyBytes (64), so the whole statement is kept.
    const row = rows.find((r) => String(r.req).startsWith('SELECT ? e'))!;
    assert.equal(row.req, 'SELECT ? e, ? c, ? n, ? s');
    const all = JSON.stringify(rows);
    assert.ok(!all.includes('erin@ex.com') && !all.includes(CARD), all);
  });

  it('stores no rows of a disabled source (redis) and counts them as source_disabled', async () => {
    const before = metric(await agent.metrics(), 'wisp_agent_records_dropped_total', 'source_disabled');
    const connection = await RedisConnection.open(redis.port);
    try {
      assert.equal(await connection.send('SET', 'user:1', 'frank@example.com'), '+OK\r\n');
      assert.equal(await connection.send('GET', 'user:1'), '$17\r\nfrank@example.com\r\n');
    } finally {
      connection.close();
    }
    await waitFor('redis records counted as source_disabled', async () => {
      const dropped = metric(await agent.metrics(), 'wisp_agent_records_dropped_total', 'source_disabled');
      return dropped >= before + 2 ? true : undefined;
    }, 20_000);
    const rows = await agent.query(`import px
df = px.DataFrame(table='redis_events', start_time='-5m')
df = df[df.remote_port == ${redis.port}]
px.display(df[['req_cmd', 'req_args']], 'rows')
`);
    assert.deepEqual(rows, []);
    // The enabled sources of the same agent did store rows (previous tests); HTTP rows are here too.
    const http = await agent.query(`import px
df = px.DataFrame(table='http_events', start_time='-5m')
df = df[df.remote_port == ${nginx.port}]
px.display(df[['req_method']], 'rows')
`);
    assert.ok(http.length > 0, 'http_events has rows while redis_events has none');
  });
});
