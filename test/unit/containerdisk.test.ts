import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeContainerDisk } from '../../src/host/containerdisk.js';
import { requireTool, run } from '../helpers/tools.js';

/** The containerDisk archive, checked by a real OCI tool (skopeo) and by reading its layer back. */
describe('vmlab image export --format containerdisk: an OCI archive KubeVirt takes', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'vmlab-cdisk-'));
  const disk = join(dir, 'small.qcow2');
  const archive = join(dir, 'small.tar');

  before(async () => {
    requireTool('skopeo', 'skopeo');
    requireTool('qemu-img', 'qemu-utils');
    assert.equal((await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M'])).exitCode, 0);
  });

  it('skopeo reads it as a linux/amd64 image of one layer, named <image>:<tag>, and copies it with every digest checked', async () => {
    const r = await writeContainerDisk(disk, 'small', 'v1', archive);
    assert.equal(r.reference, 'small:v1');
    const inspect = await run('skopeo', ['inspect', `oci-archive:${archive}`]);
    assert.equal(inspect.exitCode, 0, inspect.all);
    const info = JSON.parse(String(inspect.stdout)) as { Digest: string; Architecture: string; Os: string; Layers: string[] };
    assert.deepEqual([info.Architecture, info.Os, info.Layers, info.Digest], ['amd64', 'linux', [r.layer.digest], r.manifest.digest]);
    const named = await run('skopeo', ['inspect', `oci-archive:${archive}:small:v1`]);
    assert.equal(named.exitCode, 0, named.all);
    const out = join(dir, 'copied');
    const copy = await run('skopeo', ['copy', '--quiet', `oci-archive:${archive}`, `dir:${out}`]);
    assert.equal(copy.exitCode, 0, copy.all);
    const layer = join(out, r.layer.digest.slice('sha256:'.length));
    assert.ok(readdirSync(out).includes(r.layer.digest.slice('sha256:'.length)));
    // The layer as KubeVirt's containerDisk expects it: the image under /disk, readable by QEMU's user (107).
    const list = await run('tar', ['--list', '--verbose', '--numeric-owner', '--file', layer]);
    assert.equal(list.exitCode, 0, list.all);
    const lines = String(list.stdout).trim().split('\n');
    assert.match(lines[0]!, /^dr-xr-xr-x 107\/107 .* disk\/$/);
    assert.match(lines[1]!, /^-r--r----- 107\/107 +\d+ .* disk\/small\.qcow2$/);
    assert.equal(lines.length, 2);
    const extracted = join(dir, 'x');
    await run('mkdir', ['-p', extracted]);
    assert.equal((await run('tar', ['-xf', layer, '-C', extracted])).exitCode, 0);
    const img = await run('qemu-img', ['info', '--output=json', join(extracted, 'disk', 'small.qcow2')]);
    assert.equal((JSON.parse(String(img.stdout)) as { format: string })?.format, 'qcow2');
  });

  it('a broken archive is refused by skopeo (the check can fail)', async () => {
    const bad = join(dir, 'bad.tar');
    assert.equal((await run('sh', ['-c', 'head -c 4096 "$1" > "$2"', 'sh', archive, bad])).exitCode, 0);
    assert.notEqual((await run('skopeo', ['inspect', `oci-archive:${bad}`])).exitCode, 0);
  });
});
