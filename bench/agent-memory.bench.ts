// Agent memory under a flood of large requests: `wisp agent --memory-limit
// 256MiB` while wrk posts 256 KiB bodies and downloads 1 MiB files from nginx
// as fast as it can; the agent's RSS is sampled every 100 ms. Baseline in the
// same run: the agent's RSS when idle.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcess } from '../test/support/agent.ts';
import { NginxProcess } from '../test/support/nginx.ts';
import { requireRoot, sleep, tempDir } from '../test/support/processes.ts';
import { printTable, rssBytes, wrk } from './support.ts';

const LIMIT_BYTES = 256 * 1024 * 1024;
const SECONDS = 15;

export async function agentMemoryBench(): Promise<void> {
  requireRoot('the memory benchmark');
  const nginx = await NginxProcess.start({ 'large.bin': Buffer.alloc(1024 * 1024, 'y') });
  const agent = await AgentProcess.start(['--memory-limit', '256MiB']);
  const post = join(tempDir('wrk'), 'post.lua');
  writeFileSync(post, `wrk.method = "POST"\nwrk.body = string.rep("p", 256 * 1024)\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
  try {
    await sleep(1000);
    const idle = rssBytes(agent.pid);
    let peak = idle;
    const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(agent.pid)); }, 100);
    const [posts, gets] = await Promise.all([
      wrk(`http://127.0.0.1:${nginx.port}/echo-status`, { connections: 16, seconds: SECONDS, script: post }),
      wrk(`http://127.0.0.1:${nginx.port}/large.bin`, { connections: 16, seconds: SECONDS }),
    ]);
    clearInterval(sampler);
    const metrics = await agent.metrics();
    const rows = /wisp_table_rows_added_total\{table="http_events"\} (\d+)/.exec(metrics)?.[1];
    printTable(`agent memory under a flood of large requests (--memory-limit 256MiB, ${SECONDS}s)`, [
      ['measure', 'value', 'ratio to limit'],
      ['idle RSS MiB (baseline)', idle / 2 ** 20, idle / LIMIT_BYTES],
      ['peak RSS MiB', peak / 2 ** 20, peak / LIMIT_BYTES],
      ['POST 256 KiB req/s', posts.requestsPerSec, ''],
      ['GET 1 MiB req/s', gets.requestsPerSec, ''],
      ['http_events rows added', Number(rows ?? 0), ''],
    ]);
    process.stdout.write(`  target: peak RSS under the limit — ${peak < LIMIT_BYTES ? 'met' : 'NOT met'} (peak/idle ${(peak / idle).toFixed(2)}×)\n`);
  } finally {
    await agent.stop();
    await nginx.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await agentMemoryBench();
