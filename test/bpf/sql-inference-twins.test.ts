// The kernel's infer_protocol() (native/bpf/socket_trace.bpf.c) and the
// user-space inferPgsql/inferMysql are twins: whatever user space would accept
// from the first 8 bytes, the kernel must classify as that protocol, or the
// connection's DATA records are never emitted. The kernel function is pure, so
// it is compiled here as a host program and both are run on the same inputs.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'mocha';
import { inferMysql } from '../../src/agent/protocols/mysql/mysql-session.ts';
import type { InferResult } from '../../src/agent/protocols/protocol.ts';
import { InferResult as Infer } from '../../src/agent/protocols/protocol.ts';
import { inferPgsql } from '../../src/agent/protocols/pgsql/pgsql-session.ts';
import { seededRandom } from '../../src/agent/conn/test-helpers.ts';
import { requireCommand, ROOT, run, tempDir } from '../support/processes.ts';

const PROTO_PGSQL = 2;
const PROTO_MYSQL = 3;
const DIR_EGRESS = 0;
const DIR_INGRESS = 1;
const ROLE_CLIENT = 1;
const ROLE_SERVER = 2;

/** Builds a host binary around infer_protocol() that reads "hex8 n direction role" lines and prints the result per line. */
async function buildKernelInfer(): Promise<string> {
  const cc = requireCommand('clang', 'clang');
  const source = readFileSync(join(ROOT, 'native', 'bpf', 'socket_trace.bpf.c'), 'utf8');
  const match = /^__noinline __u16 infer_protocol\([^)]*\)\n\{\n[\s\S]*?\n\}\n/m.exec(source);
  if (!match) throw new Error('find infer_protocol() in native/bpf/socket_trace.bpf.c: its signature changed, update this test');
  const dir = tempDir('infer-twins');
  writeFileSync(join(dir, 'infer.c'), `#include <linux/types.h>
#include <stdio.h>
#include "socket_trace.h"
#define __noinline __attribute__((noinline))
${match[0]}
int main(void) {
  unsigned long long first8; unsigned n, direction, role;
  while (scanf("%llx %u %u %u", &first8, &n, &direction, &role) == 4)
    printf("%u\\n", infer_protocol(first8, n, direction, role));
  return 0;
}
`);
  const binary = join(dir, 'infer');
  const built = await run(cc, ['-O1', '-Wall', '-Werror', '-I', join(ROOT, 'native', 'bpf'), join(dir, 'infer.c'), '-o', binary]);
  if (built.code !== 0) throw new Error(`compile infer_protocol() for the host: ${built.stderr.trim()}`);
  return binary;
}

interface Case { bytes: Uint8Array; direction: number; role: number }

/** The first 8 bytes as the kernel passes them: a little-endian u64 (b[0] lowest), hex. */
function first8Hex(bytes: Uint8Array): string {
  let hex = '';
  for (let k = 7; k >= 0; k--) hex += (k < bytes.length ? bytes[k]! : 0).toString(16).padStart(2, '0');
  return hex;
}

const u8 = (...parts: (number[] | string)[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));

function corpus(): Case[] {
  const starts = [
    u8([0, 0, 0, 0x54, 0, 3, 0, 0], 'user\0'), // StartupMessage
    u8([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]), // SSLRequest
    u8([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]), // GSSENCRequest
    u8([0x64, 0, 0, 0, 10], '5.5.5-10.11.19-MariaDB'), // MariaDB greeting
    u8([0x4a, 0, 0, 0, 10], '8.0.36'), // MySQL 8 greeting
    u8([0x21, 0, 0, 0, 3], 'SELECT @@version'), // COM_QUERY
    u8([0x12, 1, 0, 0, 3], 'select * from t'),
  ];
  const random = seededRandom(0x7a1);
  const cases: Case[] = [];
  const sides = [[DIR_EGRESS, ROLE_CLIENT], [DIR_INGRESS, ROLE_SERVER], [DIR_INGRESS, ROLE_CLIENT], [DIR_EGRESS, ROLE_SERVER]] as const;
  for (const bytes of starts) for (const [direction, role] of sides) cases.push({ bytes, direction, role });
  for (let k = 0; k < 20_000; k++) {
    const source = starts[k % starts.length]!;
    const bytes = source.slice(0, 8);
    // Mutate one byte of a valid start, or draw zero-heavy random bytes.
    if (k % 2 === 0) bytes[Math.floor(random() * 8)] = Math.floor(random() * 256);
    else for (let b = 0; b < 8; b++) bytes[b] = random() < 0.4 ? 0 : Math.floor(random() * 256);
    const [direction, role] = sides[k % sides.length]!;
    cases.push({ bytes, direction, role });
  }
  return cases;
}

const decided = (r: InferResult): boolean => r === Infer.Request || r === Infer.Response;

describe('infer_protocol() and the SQL specs (twins)', function () {
  this.timeout(60_000);

  it('classify every start user space accepts as PostgreSQL or MySQL in the kernel too', async () => {
    const binary = await buildKernelInfer();
    const cases = corpus();
    const input = cases.map((c) => `${first8Hex(c.bytes)} ${Math.min(8, c.bytes.length)} ${c.direction} ${c.role}`).join('\n');
    const out = await run(binary, [], { input });
    assert.equal(out.code, 0, out.stderr);
    const kernel = out.stdout.trim().split('\n').map(Number);
    assert.equal(kernel.length, cases.length);
    let pg = 0;
    let my = 0;
    for (let k = 0; k < cases.length; k++) {
      const bytes = cases[k]!.bytes;
      const end = Math.min(8, bytes.length);
      if (decided(inferPgsql(bytes, 0, end))) {
        pg++;
        assert.equal(kernel[k], PROTO_PGSQL, `pgsql start ${first8Hex(bytes)}`);
      }
      if (decided(inferMysql(bytes, 0, end))) {
        my++;
        assert.equal(kernel[k], PROTO_MYSQL, `mysql start ${first8Hex(bytes)}`);
      }
    }
    assert.ok(pg >= 12 && my >= 16, `the corpus exercises both (pgsql ${pg}, mysql ${my})`);
  });
});
