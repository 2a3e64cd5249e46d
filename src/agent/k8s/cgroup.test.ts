import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'mocha';
import { CgroupIds, NO_PLACEMENT, placementOfPath, placementOfProcCgroup } from './cgroup.ts';

const UID = '3f1c2a4b-5d6e-4f70-8192-a3b4c5d6e7f8';
const CID = 'ab'.repeat(32);

describe('cgroup placement', () => {
  it('reads the cgroupfs layout', () => {
    assert.deepEqual(placementOfPath(`/kubepods/burstable/pod${UID}/${CID}`), { podUid: UID, containerId: CID });
    assert.deepEqual(placementOfPath(`/kubepods/pod${UID}/${CID}`), { podUid: UID, containerId: CID });
  });
  it('reads the systemd layout, with underscores in the uid and a runtime prefix', () => {
    const path = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID.replaceAll('-', '_')}.slice/cri-containerd-${CID}.scope`;
    assert.deepEqual(placementOfPath(path), { podUid: UID, containerId: CID });
    assert.equal(placementOfPath(`/kubepods.slice/kubepods-pod${UID.replaceAll('-', '_')}.slice/crio-${CID}.scope`).containerId, CID);
  });
  it('knows the pod of its sandbox-level cgroup without a container', () => {
    assert.deepEqual(placementOfPath(`/kubepods/besteffort/pod${UID}`), { podUid: UID, containerId: '' });
  });
  it('says nothing about cgroups outside pods', () => {
    assert.equal(placementOfPath('/system.slice/nginx.service'), NO_PLACEMENT);
    assert.equal(placementOfPath(`/docker/${CID}`), NO_PLACEMENT);
    assert.equal(placementOfPath('/'), NO_PLACEMENT);
  });
  it('picks the line naming a pod from a hybrid /proc/PID/cgroup', () => {
    const text = `12:memory:/system.slice\n1:name=systemd:/\n0::/kubepods/burstable/pod${UID}/${CID}\n`;
    assert.deepEqual(placementOfProcCgroup(text), { podUid: UID, containerId: CID });
    assert.equal(placementOfProcCgroup('0::/user.slice\n'), NO_PLACEMENT);
    assert.equal(placementOfProcCgroup('garbage'), NO_PLACEMENT);
  });
});

describe('CgroupIds', () => {
  it('maps a directory inode to its placement, rescanning at most once per interval', () => {
    const root = mkdtempSync(join(tmpdir(), 'wisp-cgroup-'));
    try {
      let now = 0;
      const ids = new CgroupIds(root, () => now);
      const dir = join(root, 'kubepods', 'burstable', `pod${UID}`, CID);
      assert.equal(ids.lookup(12345), NO_PLACEMENT, 'nothing there yet');
      mkdirSync(dir, { recursive: true });
      const id = statSync(dir).ino;
      assert.equal(ids.lookup(id), NO_PLACEMENT, 'no rescan within the interval');
      now += 1_000;
      assert.deepEqual(ids.lookup(id), { podUid: UID, containerId: CID });
      assert.equal(ids.scans, 2);
      assert.deepEqual(ids.lookup(id), { podUid: UID, containerId: CID });
      assert.equal(ids.scans, 2, 'a known id costs no scan');
      assert.equal(ids.lookup(1), NO_PLACEMENT, 'the root cgroup is nobody\'s pod');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
