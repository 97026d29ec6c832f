import assert from 'node:assert/strict';
import { hostDiskCache } from '../../src/lab-ops/host-lab.js';
import type { VmlabError } from '../../src/errors.js';
import { planFromText, readLab } from '../helpers/lab.js';

describe('lab disk cache: unsafe unless the host says otherwise (VMLAB_DISK_CACHE)', () => {
  it('labs default to cache=unsafe io=threads on every writable disk; the read-only media keep no cache mode of their own', () => {
    const plan = planFromText(readLab('labs/quickstart.yaml'), 'labs/quickstart.yaml');
    const modes = plan.vms.flatMap((v) => v.disks.filter((d) => !d.readonly).map((d) => `${d.cache}/${d.io}`));
    assert.ok(modes.length > 0);
    assert.deepEqual([...new Set(modes)], ['unsafe/threads']);
  });

  it('VMLAB_DISK_CACHE picks writeback or none; anything else is a user error that lists the modes', () => {
    assert.equal(hostDiskCache({}), undefined);
    assert.equal(hostDiskCache({ VMLAB_DISK_CACHE: 'writeback' }), 'writeback');
    assert.equal(hostDiskCache({ VMLAB_DISK_CACHE: 'none' }), 'none');
    assert.throws(
      () => hostDiskCache({ VMLAB_DISK_CACHE: 'directsync' }),
      (e: VmlabError) => e.code === 'ERR_VMLAB_DISK_CACHE' && e.exitCode === 2 && /unsafe, writeback, none/.test(e.hint!),
    );
  });
});
