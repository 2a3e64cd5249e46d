// An agent restart during export: rows captured before a graceful stop
// (SIGTERM) are delivered by the stop itself, rows after the restart by the
// new agent; Jaeger holds every request exactly once per side, no gap and no
// duplicate. (A crash loses what was in memory: the tables are in memory;
// docs/adr/0012-export-delivery.md.)
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'mocha';
import { AgentProcess } from '../support/agent.ts';
import { NginxProcess } from '../support/nginx.ts';
import { requireCommand, run, sleep, tempDir, waitFor } from '../support/processes.ts';
import { JaegerProcess } from './support/peers.ts';

process.env.WISP_FROM_SOURCE ??= '1';

const REQUESTS = 20;

describe('ExportPipeline across an agent restart (root, eBPF, real nginx, curl and Jaeger)', function () {
  this.timeout(600_000);
  let jaeger: JaegerProcess;
  let nginx: NginxProcess;
  let agent: AgentProcess | undefined;
  let config: string;

  before(async () => {
    jaeger = await JaegerProcess.start();
    nginx = await NginxProcess.start({ 'before.txt': 'before\n', 'after.txt': 'after\n' });
    config = join(tempDir('export-restart'), 'pipeline.yaml');
    // A long interval: the rows before the restart can only leave through the graceful stop's last read.
    writeFileSync(config, `
apiVersion: wisp.dev/v1alpha1
kind: ExportPipeline
metadata: {name: spans}
spec:
  source: {preset: http-spans}
  interval: 60s
  destination:
    otlp: {endpoint: "${jaeger.otlpGrpc}", protocol: grpc, insecure: true}
  batch: {maxItems: 512, timeout: 200ms}
`);
  });
  after(async () => {
    await agent?.stop();
    await nginx?.stop();
    await jaeger?.stop();
  });

  async function requests(path: string): Promise<void> {
    const curl = requireCommand('curl', 'curl');
    const args = ['-sS', '--rate', '20/s'];
    for (let i = 0; i < REQUESTS; i++) args.push('-o', '/dev/null', `http://127.0.0.1:${nginx.port}${path}`);
    const result = await run(curl, args);
    assert.equal(result.code, 0, result.stderr);
  }

  async function serverSpans(name: string): Promise<number> {
    return (await jaeger.spans('nginx')).filter((s) => s.name === name).length;
  }

  it('delivers every request once: before the stop by the stop, after the restart by the new agent', async () => {
    agent = await AgentProcess.start(['--config', config]);
    await requests('/before.txt');
    await sleep(500); // drained (10 ms) and parsed, long before the 60 s interval
    await agent.stop();
    agent = undefined;
    await waitFor(`${REQUESTS} spans delivered by the stop`, async () => ((await serverSpans('GET /before.txt')) >= REQUESTS ? true : undefined), 30_000);
    assert.equal(await serverSpans('GET /before.txt'), REQUESTS, 'the graceful stop delivered what it held, once');

    agent = await AgentProcess.start(['--config', config]);
    await requests('/after.txt');
    await sleep(500);
    await agent.stop();
    agent = undefined;
    await waitFor(`${REQUESTS} spans of the second agent`, async () => ((await serverSpans('GET /after.txt')) >= REQUESTS ? true : undefined), 30_000);
    assert.equal(await serverSpans('GET /after.txt'), REQUESTS, 'no duplicate');
    assert.equal(await serverSpans('GET /before.txt'), REQUESTS, 'the new agent resent nothing of the old one');
  });
});
