import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { libvirtdPid } from '../../src/host/host-net.js';
import { localUri } from '../../src/lab-ops/runtime.js';

/** A /proc with processes of given names and owners, and pid files, in a temporary folder. */
function host(procs: Array<{ pid: number; name: string; uid: number }>, pidFile?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'vmlab-proc-'));
  for (const p of procs) {
    mkdirSync(join(dir, 'proc', String(p.pid)), { recursive: true });
    writeFileSync(join(dir, 'proc', String(p.pid), 'status'), `Name:\t${p.name}\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t${p.uid}\t${p.uid}\t${p.uid}\t${p.uid}\n`);
  }
  const file = join(dir, 'libvirtd.pid');
  if (pidFile !== undefined) writeFileSync(file, pidFile);
  return { files: [file], proc: join(dir, 'proc') };
}

describe('where libvirtd runs: from its pid file only', () => {
  it("a container guest's process named libvirtd is never taken for the daemon", () => {
    const h = host([
      { pid: 300, name: 'libvirtd', uid: 0 }, // a student's, inside their container (root there is root here)
      { pid: 900, name: 'libvirtd', uid: 0 },
    ]);
    assert.equal(libvirtdPid(h.files, h.proc), undefined, 'no pid file: no libvirtd, whatever runs');
    const real = host(
      [
        { pid: 300, name: 'libvirtd', uid: 0 },
        { pid: 900, name: 'libvirtd', uid: 0 },
      ],
      '900\n',
    );
    assert.equal(libvirtdPid(real.files, real.proc), 900);
  });

  it('a stale pid file (the daemon killed, its pid reused by another process) names no libvirtd', () => {
    const h = host([{ pid: 900, name: 'bash', uid: 0 }], '900\n');
    assert.equal(libvirtdPid(h.files, h.proc), undefined);
    const notRoot = host([{ pid: 900, name: 'libvirtd', uid: 1000 }], '900\n');
    assert.equal(libvirtdPid(notRoot.files, notRoot.proc), undefined);
    const junk = host([], 'not a pid');
    assert.equal(libvirtdPid(junk.files, junk.proc), undefined);
  });

  it('host links are looked at and removed only where libvirtd runs here (a URI without a host)', () => {
    assert.ok(localUri('qemu:///system') && localUri('qemu:///session') && localUri('qemu+unix:///system'));
    assert.ok(!localUri('qemu+ssh://lab-server/system') && !localUri('qemu+tcp://10.0.0.2/system'));
  });
});
