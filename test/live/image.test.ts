import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';
import { root } from '../helpers/lab.js';

/** The reference image: cached builds, size, and interrupted builds that leave nothing behind. */
describe('live: debian-12 reference image', function () {
  this.timeout(20 * 60_000);
  before(requireLiveHost);

  it('a second build with an unchanged recipe does nothing, in under a second', async () => {
    const t0 = Date.now();
    const r = await vmlabJson(['image', 'build', 'debian-12']);
    const ms = Date.now() - t0;
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.json.status, 'cached');
    assert.ok(r.json.seconds < 1, `build decision took ${r.json.seconds} s`);
    process.stdout.write(`      [live] cached build: ${(r.json.seconds * 1000).toFixed(0)} ms in vmlab, ${ms} ms with node start-up\n`);
  });

  it('is a compressed qcow2 of at most 300 MB, listed as up to date', async () => {
    const r = await vmlabJson(['image', 'list']);
    const img = r.json.images.find((i: { name: string }) => i.name === 'debian-12');
    assert.ok(img, 'debian-12 is listed');
    assert.equal(img.format, 'qcow2');
    assert.ok(img.actualSize <= 300e6, `image is ${img.actualSize} bytes`);
    assert.equal(r.json.recipes.find((x: { name: string }) => x.name === 'debian-12').upToDate, true);
    const info = JSON.parse(String((await execa('qemu-img', ['info', '--output=json', '-U', img.file])).stdout));
    assert.equal(info.format, 'qcow2');
    assert.equal(info['format-specific'].data['compression-type'], 'zstd');
  });

  it('an interrupted build leaves no half image and no lock behind', async () => {
    const data = mkdtempSync(join(tmpdir(), 'vmlab-build-'));
    try {
      const child = execa('node', [CLI, '--data-dir', data, 'image', 'build', 'debian-12', '--force'], { reject: false, cwd: root });
      await new Promise((r) => setTimeout(r, 8000));
      child.kill('SIGINT');
      const res = await child;
      assert.notEqual(res.exitCode, 0);
      const left = existsSync(join(data, 'images')) ? readdirSync(join(data, 'images')) : [];
      assert.deepEqual(left, [], `left behind: ${left.join(', ')}`);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('doctor reports the image, libvirt and what accel auto picks, with --json', async () => {
    const r = await vmlab(['doctor', '--json']);
    const j = JSON.parse(String(r.stdout));
    assert.ok(j.checks.find((c: { name: string; ok: boolean }) => c.name === 'libvirt' && c.ok));
    assert.ok(j.checks.find((c: { name: string; ok: boolean }) => c.name === 'image' && c.ok));
    assert.ok(['kvm', 'tcg'].includes(j.accel.accel));
    assert.equal(r.exitCode, 0, String(r.stdout));
  });
});
