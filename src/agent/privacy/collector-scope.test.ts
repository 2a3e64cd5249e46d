import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import type { HttpExchange } from '../protocols/http1/http-exchange.ts';
import type { ConnectionInfo } from '../protocols/protocol.ts';
import type { RedisRecord } from '../protocols/redis/redis-record.ts';
import { CollectorScope, cutUtf8, DEFAULTS, parseSources, scopeFromCollector } from './collector-scope.ts';

function conn(pid: number): ConnectionInfo {
  return Object.freeze({
    connId: pid, pid, fd: 3, processStartNs: 1000, role: 1, family: 4,
    localAddr: '127.0.0.1', localPort: 1, remoteAddr: '127.0.0.1', remotePort: 80, cgroupId: 0, openedNs: 0,
  }) as ConnectionInfo;
}

function exchange(overrides: Partial<HttpExchange> = {}): HttpExchange {
  return {
    majorVersion: 1, minorVersion: 1, contentType: 0, reqMethod: 'POST', reqPath: '/a?email=x@example.com',
    reqHeaders: '{"Authorization":"Bearer abcdefgh12345678","Host":"h"}', reqBody: 'card 4111111111111111', reqBodySize: 21,
    respStatus: 200, respMessage: 'OK', respHeaders: '{}', respBody: 'ok', respBodySize: 2, reqStartNs: 0, respEndNs: 1, latencyNs: 1,
    ...overrides,
  };
}

/** pid → namespace: 1 in "shop", 2 in "kube-system", 3 outside pods. */
const namespaces = new Map([[1, 'shop'], [2, 'kube-system']]);
const namespaceOf = (pid: number): string => namespaces.get(pid) ?? '';

describe('CollectorScope', () => {
  describe('with sources', () => {
    it('drops records of a disabled source and counts them as source_disabled', () => {
      const scope = new CollectorScope({ namespaceOf });
      scope.apply(scopeFromCollector({ sources: ['http2', 'pgsql'] }).settings);
      assert.equal(scope.http(exchange(), conn(1)), false, 'HTTP/1 is source http');
      assert.equal(scope.http(exchange({ majorVersion: 2 }), conn(1)), true, 'HTTP/2 is source http2');
      assert.equal(scope.counters()['records_dropped.source_disabled'], 1);
    });
    it('keeps TLS plaintext only while both its protocol and tls are on', () => {
      const scope = new CollectorScope({ namespaceOf });
      const tls = Object.freeze({ ...conn(1), encrypted: true });
      scope.apply(scopeFromCollector({ sources: ['http'] }).settings);
      assert.equal(scope.http(exchange(), tls), false, 'tls off');
      assert.equal(scope.http(exchange(), conn(1)), true, 'plain HTTP is not affected');
      scope.apply(scopeFromCollector({ sources: ['http', 'tls'] }).settings);
      assert.equal(scope.http(exchange(), tls), true);
      scope.apply(scopeFromCollector({ sources: ['tls'] }).settings);
      assert.equal(scope.http(exchange(), tls), false, 'http off');
      assert.equal(scope.counters()['records_dropped.source_disabled'], 2);
    });
    it('applies a new source list live', () => {
      const scope = new CollectorScope({ namespaceOf });
      assert.equal(scope.http(exchange(), conn(1)), true);
      scope.apply(scopeFromCollector({ sources: [] }, scope.settings).settings);
      assert.equal(scope.http(exchange(), conn(1)), false);
    });
    it('parses --sources and refuses unknown names', () => {
      assert.deepEqual([...parseSources('http, dns')], ['http', 'dns']);
      assert.equal(parseSources('all').size, DEFAULTS.settings.sources.size);
      assert.throws(() => parseSources('http,kafka'), /unknown source "kafka"/);
    });
    it('reports unknown plan values and fails closed on an unknown dataAccess', () => {
      const { settings, problems } = scopeFromCollector({ sources: ['http', 'smtp'], dataAccess: 'Everything' });
      assert.deepEqual([...settings.sources], ['http']);
      assert.equal(settings.dataAccess, 'Restricted');
      assert.equal(problems.length, 2);
    });
  });

  describe('with namespaces', () => {
    it('drops excluded namespaces and keeps processes outside pods when include is empty', () => {
      const scope = new CollectorScope({ namespaceOf });
      scope.apply(scopeFromCollector({ namespaces: { include: [], exclude: ['kube-system'] } }).settings);
      assert.equal(scope.admit('http', conn(1)), true);
      assert.equal(scope.admit('http', conn(2)), false);
      assert.equal(scope.admit('http', conn(3)), true, 'outside pods');
      assert.equal(scope.counters()['records_dropped.namespace_excluded'], 1);
    });
    it('keeps only included namespaces, and drops processes outside pods', () => {
      const scope = new CollectorScope({ namespaceOf });
      scope.apply(scopeFromCollector({ namespaces: { include: ['shop'], exclude: [] } }).settings);
      assert.equal(scope.admit('http', conn(1)), true);
      assert.equal(scope.admit('http', conn(2)), false);
      assert.equal(scope.admit('http', conn(3)), false, 'outside pods');
    });
    it('resolves a connection once, and re-resolves an outside-pods verdict after the recheck delay', () => {
      let calls = 0;
      let now = 0;
      const late = new Map<number, string>();
      const scope = new CollectorScope({ namespaceOf: (pid) => { calls++; return late.get(pid) ?? ''; }, nowMs: () => now });
      scope.apply(scopeFromCollector({ namespaces: { include: [], exclude: ['batch'] } }).settings);
      const c = conn(7);
      for (let k = 0; k < 5; k++) assert.equal(scope.admit('redis', c), true);
      assert.equal(calls, 1);
      late.set(7, 'batch'); // the pod watch caught up
      now += DEFAULTS.unresolvedRecheckMs;
      assert.equal(scope.admit('redis', c), false);
      assert.equal(calls, 2);
    });
  });

  describe('with namespaces, for the stats tables', () => {
    it('applies the same rule per process and per pod namespace, counting drops as namespace_excluded', () => {
      const scope = new CollectorScope({ namespaceOf });
      scope.apply(scopeFromCollector({ namespaces: { include: [], exclude: ['kube-system'] } }).settings);
      assert.equal(scope.admitProcess(1, 1000), true);
      assert.equal(scope.admitProcess(2, 1000), false);
      assert.equal(scope.admitProcess(3, 1000), true, 'outside pods');
      assert.equal(scope.admitNamespace('shop'), true);
      assert.equal(scope.admitNamespace('kube-system'), false);
      assert.equal(scope.admitNamespace(''), true, 'the host network namespace');
      assert.equal(scope.counters()['records_dropped.namespace_excluded'], 2);
      scope.apply(scopeFromCollector({ namespaces: { include: ['shop'], exclude: [] } }).settings);
      assert.equal(scope.admitProcess(3, 1000), false, 'outside pods, with include');
      assert.equal(scope.admitNamespace(''), false);
    });
    it('resolves a process once, re-decides under a new plan without resolving again, and tells reused pids apart', () => {
      const calls: number[] = [];
      const byPid = new Map([[5, 'shop']]);
      const scope = new CollectorScope({ namespaceOf: (pid) => { calls.push(pid); return byPid.get(pid) ?? ''; } });
      scope.apply(scopeFromCollector({ namespaces: { include: [], exclude: ['shop'] } }).settings);
      for (let k = 0; k < 3; k++) assert.equal(scope.admitProcess(5, 20_000_000), false);
      assert.deepEqual(calls, [5]);
      scope.apply(scopeFromCollector({ namespaces: { include: ['shop'], exclude: [] } }).settings);
      byPid.delete(5); // the process exited: its cgroup is gone, the cached namespace still holds
      assert.equal(scope.admitProcess(5, 20_000_000), true);
      assert.deepEqual(calls, [5]);
      assert.equal(scope.admitProcess(5, 90_000_000), false, 'a new process with the same pid, outside pods');
      assert.deepEqual(calls, [5, 5]);
    });
    it('looks a process outside pods up again after the recheck delay', () => {
      let now = 0;
      let calls = 0;
      const late = new Map<number, string>();
      const scope = new CollectorScope({ namespaceOf: (pid) => { calls++; return late.get(pid) ?? ''; }, nowMs: () => now });
      scope.apply(scopeFromCollector({ namespaces: { include: [], exclude: ['batch'] } }).settings);
      assert.equal(scope.admitProcess(9, 0), true);
      late.set(9, 'batch');
      assert.equal(scope.admitProcess(9, 0), true, 'cached until the recheck');
      now += DEFAULTS.unresolvedRecheckMs;
      assert.equal(scope.admitProcess(9, 0), false);
      assert.equal(calls, 2);
    });
    it('asks nothing while no namespace is scoped', () => {
      const scope = new CollectorScope({ namespaceOf: () => { throw new Error('not asked'); } });
      assert.equal(scope.admitProcess(1, 0), true);
      assert.equal(scope.admitNamespace('any'), true);
    });
  });

  describe('with data access', () => {
    it('Full keeps payloads, cut at maxBodyBytes (a limit lowered live)', () => {
      const scope = new CollectorScope({ namespaceOf });
      scope.apply(scopeFromCollector({ maxBodyBytes: 4 }).settings);
      const e = exchange();
      assert.equal(scope.http(e, conn(1)), true);
      assert.equal(e.reqBody, 'card');
      assert.equal(e.reqHeaders, exchange().reqHeaders);
    });
    it('Restricted stores no bodies, headers, query strings or redis arguments', () => {
      const scope = new CollectorScope({ namespaceOf });
      scope.apply(scopeFromCollector({ dataAccess: 'Restricted' }).settings);
      const e = exchange();
      scope.http(e, conn(1));
      assert.deepEqual([e.reqBody, e.respBody, e.reqHeaders, e.reqPath], ['', '', '{}', '/a']);
      const r: RedisRecord = { reqCmd: 'SET', reqArgs: '["k","v"]', resp: 'OK', reqStartNs: 0, respEndNs: 0, latencyNs: 0 };
      scope.redis(r, conn(1));
      assert.deepEqual([r.reqCmd, r.reqArgs, r.resp], ['SET', '', '']);
    });
    it('PIIRestricted masks bodies, headers and paths', () => {
      const scope = new CollectorScope({ namespaceOf });
      scope.apply(scopeFromCollector({ dataAccess: 'PIIRestricted' }).settings);
      const e = exchange();
      scope.http(e, conn(1));
      assert.equal(e.reqBody, 'card [CARD]');
      assert.equal(e.reqPath, '/a?email=[EMAIL]');
      assert.equal(e.reqHeaders, '{"Authorization":"[REDACTED]","Host":"h"}');
      assert.equal(scope.counters().records_masked, 1);
    });
  });
});

describe('cutUtf8', () => {
  it('cuts at a byte limit without splitting characters', () => {
    assert.equal(cutUtf8('héllo', 2), 'h');
    assert.equal(cutUtf8('a😀b', 4), 'a');
    assert.equal(cutUtf8('a😀b', 5), 'a😀');
    assert.equal(cutUtf8('abc', 3), 'abc');
    assert.equal(cutUtf8('abc', 0), '');
  });
});
