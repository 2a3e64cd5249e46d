import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'mocha';
import { loadAgentConfig } from './agent-config.ts';

function configDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'wisp-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const RETENTION = `apiVersion: wisp.dev/v1alpha1
kind: DataRetention
metadata: {name: http}
spec:
  tables:
  - {name: http_events, maxBytes: 64Mi, maxAge: 30s}
  rollups:
  - name: http_events_1m
    from: http_events
    interval: 1m
    groupBy: [service, req_path, resp_status]
    aggregates: {requests: count, latency: quantiles, errors: errorRate}
    retain: 7d
`;

const PIPELINE = `apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: spans}
spec:
  source: {preset: http-spans}
  destination: {otlp: {endpoint: "127.0.0.1:4317", insecure: true}}
`;

/** The one-line error loading `text` as a config file gives. */
function errorOf(text: string): string {
  const dir = configDir({ 'bad.yaml': text });
  try {
    loadAgentConfig(join(dir, 'bad.yaml'));
  } catch (error) {
    const message = (error as Error).message;
    assert.ok(!message.includes('\n'), `one line: ${message}`);
    return message.slice(join(dir, 'bad.yaml').length + 2);
  }
  assert.fail('the config was accepted');
}

describe('loadAgentConfig', () => {
  it('compiles a folder of documents into the plan structures a cluster agent gets', () => {
    const dir = configDir({ '10-retention.yaml': RETENTION, '20-export.yml': `${PIPELINE}---\n`, 'notes.txt': 'ignored' });
    const config = loadAgentConfig(dir);
    assert.deepEqual(config.files.map((f) => f.slice(dir.length + 1)), ['10-retention.yaml', '20-export.yml']);
    assert.deepEqual(config.tables, [{ name: 'http_events', maxBytes: 64 * 2 ** 20, maxAgeMs: 30_000, from: 'DataRetention/http' }]);
    assert.deepEqual(config.rollups, [{
      name: 'http_events_1m', from: 'http_events', intervalMs: 60_000, groupBy: ['service', 'req_path', 'resp_status'],
      aggregates: { requests: 'count', latency: 'quantiles', errors: 'errorRate' }, retainMs: 7 * 86_400_000, owner: 'DataRetention/http',
    }]);
    assert.equal(config.exports.length, 1);
    assert.equal(config.exports[0]!.key, 'default/spans');
  });

  it('accepts the DataRetention sample users start from', () => {
    assert.equal(loadAgentConfig(join(import.meta.dirname, '../../config/samples/data-retention.yaml')).rollups.length, 1);
  });

  describe('refuses, in one line naming the field,', () => {
    it('a value the schema pattern refuses', () => {
      assert.match(errorOf(RETENTION.replace('maxAge: 30s', 'maxAge: 30x')), /^document 1: DataRetention\/http: spec\.tables\[0\]\.maxAge: Invalid value: "30x"/);
    });
    it('a CEL rule of the CRD', () => {
      assert.match(errorOf(RETENTION.replace('{name: http_events, maxBytes: 64Mi, maxAge: 30s}', '{name: http_events}')), /spec\.tables\[0\]: Invalid value: "object": set maxBytes, maxAge or both$/);
      assert.match(errorOf(RETENTION.replace('from: http_events', 'from: http_events_1m')), /spec\.rollups\[0\]\.from: Invalid value: "object": a rollup cannot read its own table$/);
    });
    it('an aggregate the enum does not know', () => {
      assert.match(errorOf(RETENTION.replace('errors: errorRate', 'errors: p99')), /spec\.rollups\[0\]\.aggregates\.errors: Unsupported value: "p99"/);
    });
    it('what only the operator judges', () => {
      assert.match(errorOf(RETENTION.replace('from: http_events', 'from: kafka_events')), /spec\.rollups\[0\]\.from: rollup http_events_1m reads table kafka_events, which no agent produces/);
      assert.match(errorOf(RETENTION.replace('retain: 7d', 'retain: 30s')), /spec\.rollups\[0\]\.retain: rollup http_events_1m keeps 30s, less than one 1m bucket/);
    });
    it('an unknown field, a kind a standalone agent does not apply, a missing name', () => {
      assert.match(errorOf(RETENTION.replace('  tables:', '  tabels: []\n  tables:')), /spec: unknown field "tabels"/);
      assert.match(errorOf('apiVersion: wisp.dev/v1alpha1\nkind: Tracepoint\nmetadata: {name: t}\nspec: {}\n'), /kind "Tracepoint" is not applied by a standalone agent; use DataRetention or ExportPipeline \(Tracepoints need a cluster\)/);
      assert.match(errorOf('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n'), /apiVersion "v1" is not wisp\.dev\/v1alpha1/);
      assert.match(errorOf(RETENTION.replace('metadata: {name: http}', 'metadata: {}')), /metadata\.name: want a DNS subdomain name/);
    });
    it('an export whose headers come from a Secret, which a host does not have', () => {
      assert.match(errorOf(PIPELINE.replace('insecure: true', 'insecure: true, headersFrom: {secretRef: {name: auth}}')), /SecretNotFound: .*Secret default\/auth does not exist/);
    });
    it('YAML that does not parse, and a path that does not exist', () => {
      assert.match(errorOf('spec: [unclosed'), /^parse YAML: /);
      assert.throws(() => loadAgentConfig('/nonexistent/wisp.yaml'), /^Error: --config \/nonexistent\/wisp\.yaml: no such file or folder$/);
    });
  });
});
