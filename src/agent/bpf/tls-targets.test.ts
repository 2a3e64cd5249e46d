import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTlsLibraries, hasOpenSslSymbols, TlsTargets } from './tls-targets.ts';

const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

describe('TLS targets', () => {
  describe('findTlsLibraries', () => {
    it('finds the host libssl once even when two directories name the same file', () => {
      // /lib is a symlink to /usr/lib on merged-/usr Debian: one inode, one path.
      const found = findTlsLibraries(['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu']);
      assert.deepEqual(found, [LIBSSL]);
    });
    it('finds nothing in directories without OpenSSL', () => {
      assert.deepEqual(findTlsLibraries([mkdtempSync(join(tmpdir(), 'wisp-tls-'))]), []);
    });
  });

  describe('hasOpenSslSymbols', () => {
    it('is true for libssl (SSL_write in .dynsym)', () => assert.equal(hasOpenSslSymbols(LIBSSL), true));
    it('is true for the Node.js binary, which links OpenSSL statically', () => assert.equal(hasOpenSslSymbols(process.execPath), true));
    it('is false for a binary without OpenSSL', () => assert.equal(hasOpenSslSymbols('/bin/true'), false));
    it('is false for a file that is not ELF, or is missing', () => {
      const dir = mkdtempSync(join(tmpdir(), 'wisp-tls-'));
      writeFileSync(join(dir, 'text'), 'SSL_write\0 but not an ELF file');
      assert.equal(hasOpenSslSymbols(join(dir, 'text')), false);
      assert.equal(hasOpenSslSymbols(join(dir, 'missing')), false);
    });
  });

  describe('TlsTargets', () => {
    /** A fake /proc: pid 10 maps the host libssl through its root, pid 11 runs Node.js. */
    function fakeProc(): string {
      const proc = mkdtempSync(join(tmpdir(), 'wisp-proc-'));
      mkdirSync(join(proc, '10'));
      writeFileSync(join(proc, '10', 'maps'), `7f00-7f01 r-xp 00000000 08:01 123 ${LIBSSL}\n7f02-7f03 r--p 00000000 00:00 0 [heap]\n`);
      symlinkSync('/', join(proc, '10', 'root'));
      symlinkSync('/bin/true', join(proc, '10', 'exe'));
      mkdirSync(join(proc, '11'));
      writeFileSync(join(proc, '11', 'maps'), '');
      symlinkSync(process.execPath, join(proc, '11', 'exe'));
      mkdirSync(join(proc, 'self'));
      return proc;
    }

    it('attaches each file once: a mapped libssl and an executable carrying OpenSSL, not other executables', () => {
      const attached: string[] = [];
      const targets = new TlsTargets({ attach: (path) => attached.push(path), procRoot: fakeProc(), libraryDirs: ['/usr/lib/x86_64-linux-gnu'] });
      assert.deepEqual(targets.attachHostLibraries(), [LIBSSL]);
      assert.equal(targets.scan(), 2);
      // pid 10's libssl is the host file already attached; pid 11's exe is Node.js.
      assert.deepEqual(attached, [LIBSSL, join(targets['procRoot'], '11', 'exe')]);
      assert.equal(targets.scan(), 0, 'processes already seen are not looked at again');
      assert.deepEqual(targets.counters, { attached: 2, attachFailed: 0, processesScanned: 2 });
    });

    it('counts a file that fails to attach and does not retry it', () => {
      const errors: unknown[] = [];
      const targets = new TlsTargets({
        attach: () => { throw new Error('attach uprobe SSL_write in x: Permission denied'); },
        onTarget: (_path, error) => errors.push(error),
        procRoot: fakeProc(),
        libraryDirs: ['/usr/lib/x86_64-linux-gnu'],
      });
      targets.attachHostLibraries();
      targets.scan();
      assert.equal(targets.counters.attachFailed, 2);
      assert.equal(errors.length, 2);
    });

    it('examines at most maxProcessesPerScan new processes per scan', () => {
      const targets = new TlsTargets({ attach: () => undefined, procRoot: fakeProc(), maxProcessesPerScan: 1, libraryDirs: [] });
      assert.equal(targets.scan(), 1);
      assert.equal(targets.scan(), 1);
      assert.equal(targets.scan(), 0);
    });
  });
});
