import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { missingPrivileges } from './privileges.ts';

describe('missingPrivileges', () => {
  it('names CAP_BPF and CAP_PERFMON when no capability is effective', () => {
    const missing = missingPrivileges('Name:\tnode\nCapEff:\t0000000000000000\n');
    assert.ok(missing.includes('CAP_BPF') && missing.includes('CAP_PERFMON'));
  });
  it('accepts CAP_BPF with CAP_PERFMON', () => {
    const caps = ((1n << 38n) | (1n << 39n)).toString(16).padStart(16, '0');
    assert.ok(!missingPrivileges(`CapEff:\t${caps}\n`).some((m) => m.startsWith('CAP_')));
  });
  it('accepts CAP_SYS_ADMIN alone', () => {
    const caps = (1n << 21n).toString(16).padStart(16, '0');
    assert.ok(!missingPrivileges(`CapEff:\t${caps}\n`).some((m) => m.startsWith('CAP_')));
  });
});
