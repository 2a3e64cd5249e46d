// A receiver outage while traffic flows: Jaeger stops for ~25 s and comes
// back on the same ports. With dropOldest the queue stays within its bound
// and every row read is accounted as exported or dropped, exactly; with
// block nothing is dropped — rows wait in the table — and every request
// arrives once the receiver is back.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from '../support/agent.ts';
import { NginxProcess } from '../support/nginx.ts';
import { requireCommand, run, sleep, tempDir, waitFor } from '../support/processes.ts';
import { JaegerProcess, parseMetrics, sumMetric } from './support/peers.ts';

process.env.WISP_FROM_SOURCE ??= '1';

const QUEUE_ITEMS = 300;
const QUEUE_BYTES = 256 * 1024;
const REQUESTS = 400;

describe('ExportPipeline through a receiver outage (root, eBPF, real nginx, curl and Jaeger)', function () {
  this.timeout(600_000);
  let dropJaeger: JaegerProcess;
  let blockJaeger: JaegerProcess;
  let newestJaeger: JaegerProcess;
  let nginx: NginxProcess;
  let agent: AgentProcess;
  /** Largest queue seen on /metrics while the receivers were down, per pipeline. */
  const peak = { drop: { items: 0, bytes: 0 }, block: { items: 0, bytes: 0 }, newest: { items: 0, bytes: 0 } };
  const label = { drop: 'pipeline="default/outage-drop"', block: 'pipeline="default/outage-block"', newest: 'pipeline="default/outage-newest"' };

  const pipeline = (name: string, endpoint: string, overflow: string): string => `
apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: ${name}}
spec:
  source: {preset: http-spans}
  interval: 1s
  destination:
    otlp: {endpoint: "${endpoint}", protocol: grpc, insecure: true, timeout: 2s}
  batch: {maxItems: 50, timeout: 100ms}
  queue: {maxItems: ${QUEUE_ITEMS}, maxBytes: ${QUEUE_BYTES}}
  retry: {initialInterval: 200ms, maxInterval: 2s, maxElapsedTime: 5m}
  overflow: ${overflow}
`;

  before(async () => {
    [dropJaeger, blockJaeger, newestJaeger] = await Promise.all([JaegerProcess.start(), JaegerProcess.start(), JaegerProcess.start()]);
    nginx = await NginxProcess.start({ 'outage.txt': 'during the outage\n' });
    const config = join(tempDir('export-config'), 'pipelines.yaml');
    writeFileSync(config, `${pipeline('outage-drop', dropJaeger.otlpGrpc, 'dropOldest')}---${pipeline('outage-block', blockJaeger.otlpGrpc, 'block')}---${pipeline('outage-newest', newestJaeger.otlpGrpc, 'dropNewest')}`);
    agent = await AgentProcess.start(['--config', config]);
    // Both pipelines have delivered something: the receivers were reachable before the outage.
    await waitFor('a first export', async () => {
      await fetch(`http://127.0.0.1:${nginx.port}/warm-up`).catch(() => undefined);
      const m = parseMetrics(await agent.metrics());
      return Object.values(label).every((l) => sumMetric(m, 'wisp_export_items_exported_total', l) > 0) ? true : undefined;
    }, 30_000);

    await Promise.all([dropJaeger.stop(), blockJaeger.stop(), newestJaeger.stop()]);
    const outageStarted = Date.now();
    // Traffic while the receivers are down: REQUESTS requests at 20/s (~20 s), two rows each (curl and nginx).
    const curl = requireCommand('curl', 'curl');
    const args = ['-sS', '--rate', '20/s'];
    for (let i = 0; i < REQUESTS; i++) args.push('-o', '/dev/null', `http://127.0.0.1:${nginx.port}/outage.txt`);
    const traffic = run(curl, args, { timeoutMs: 120_000 });
    while (true) {
      const done = await Promise.race([traffic.then(() => true), sleep(500).then(() => false)]);
      const m = parseMetrics(await agent.metrics());
      for (const key of ['drop', 'block', 'newest'] as const) {
        peak[key].items = Math.max(peak[key].items, sumMetric(m, 'wisp_export_queue_items', label[key]));
        peak[key].bytes = Math.max(peak[key].bytes, sumMetric(m, 'wisp_export_queue_bytes', label[key]));
      }
      if (done) break;
    }
    assert.equal((await traffic).code, 0);
    await sleep(Math.max(0, 25_000 - (Date.now() - outageStarted)));
    await Promise.all([dropJaeger.start(), blockJaeger.start(), newestJaeger.start()]);
  });
  after(async () => {
    await agent?.stop();
    await nginx?.stop();
    await dropJaeger?.stop();
    await blockJaeger?.stop();
    await newestJaeger?.stop();
  });

  const outageSpans = async (jaeger: JaegerProcess): Promise<number> => {
    let n = 0;
    for (const service of ['nginx', 'curl']) n += (await jaeger.spans(service)).filter((s) => s.name === 'GET /outage.txt').length;
    return n;
  };

  describe('with overflow dropOldest', () => {
    it('keeps the queue within its item and byte bounds during the outage', () => {
      assert.ok(peak.drop.items > 0, 'the queue filled');
      assert.ok(peak.drop.items <= QUEUE_ITEMS, `peak ${peak.drop.items} items`);
      assert.ok(peak.drop.bytes <= QUEUE_BYTES, `peak ${peak.drop.bytes} bytes`);
    });

    it('accounts every row read as exported or dropped (queueFull), exactly, once the queue drains', async () => {
      const m = await waitFor('the drop pipeline to drain', async () => {
        const metrics = parseMetrics(await agent.metrics());
        return sumMetric(metrics, 'wisp_export_queue_items', label.drop) === 0 ? metrics : undefined;
      }, 60_000);
      const read = sumMetric(m, 'wisp_export_rows_read_total', label.drop);
      const exported = sumMetric(m, 'wisp_export_items_exported_total', label.drop);
      const dropped = sumMetric(m, 'wisp_export_items_dropped_total', label.drop);
      const queueFull = sumMetric(m, 'wisp_export_items_dropped_total', label.drop, 'reason="queueFull"');
      assert.ok(read >= 2 * REQUESTS, `read ${read}`);
      assert.equal(exported + dropped, read, `read ${read} = exported ${exported} + dropped ${dropped}`);
      assert.equal(queueFull, dropped, 'every drop is a queue overflow');
      assert.ok(dropped >= 2 * REQUESTS - QUEUE_ITEMS, `dropped ${dropped}`);
      assert.ok(sumMetric(m, 'wisp_export_items_retried_total', label.drop) > 0, 'the in-flight batch was retried');
      // What Jaeger holds of the outage traffic is what was exported after it came back (it lost its memory).
      const held = await waitFor('spans in the restarted Jaeger', async () => ((await outageSpans(dropJaeger)) > 0 ? outageSpans(dropJaeger) : undefined), 30_000);
      assert.ok(held <= QUEUE_ITEMS, `held ${held}`);
    });
  });

  describe('with overflow block', () => {
    it('keeps the queue within its bounds and drops nothing', async () => {
      assert.ok(peak.block.items > 0 && peak.block.items <= QUEUE_ITEMS, `peak ${peak.block.items} items`);
      assert.ok(peak.block.bytes <= QUEUE_BYTES, `peak ${peak.block.bytes} bytes`);
    });

    it('delivers every request after the receiver is back, once', async () => {
      const held = await waitFor(`${2 * REQUESTS} outage spans in Jaeger`, async () => {
        const n = await outageSpans(blockJaeger);
        return n >= 2 * REQUESTS ? n : undefined;
      }, 120_000);
      assert.equal(held, 2 * REQUESTS);
      const m = parseMetrics(await agent.metrics());
      assert.equal(sumMetric(m, 'wisp_export_items_dropped_total', label.block), 0);
      const read = sumMetric(m, 'wisp_export_rows_read_total', label.block);
      assert.equal(sumMetric(m, 'wisp_export_items_exported_total', label.block) + sumMetric(m, 'wisp_export_queue_items', label.block), read);
    });
  });

  describe('with overflow dropNewest', () => {
    it('keeps the queue within its bounds and accounts every row as exported or dropped (queueFull)', async () => {
      assert.ok(peak.newest.items > 0 && peak.newest.items <= QUEUE_ITEMS, `peak ${peak.newest.items} items`);
      assert.ok(peak.newest.bytes <= QUEUE_BYTES, `peak ${peak.newest.bytes} bytes`);
      const m = await waitFor('the dropNewest pipeline to drain', async () => {
        const metrics = parseMetrics(await agent.metrics());
        return sumMetric(metrics, 'wisp_export_queue_items', label.newest) === 0 ? metrics : undefined;
      }, 60_000);
      const read = sumMetric(m, 'wisp_export_rows_read_total', label.newest);
      const exported = sumMetric(m, 'wisp_export_items_exported_total', label.newest);
      const dropped = sumMetric(m, 'wisp_export_items_dropped_total', label.newest, 'reason="queueFull"');
      assert.equal(exported + dropped, read);
      assert.ok(dropped >= 2 * REQUESTS - QUEUE_ITEMS, `dropped ${dropped}`);
    });
  });
});
