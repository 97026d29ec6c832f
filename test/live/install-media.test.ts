import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '../../src/host/image-store.js';
import { defaultHostPaths } from '../../src/paths.js';
import { buildTestIso, TEST_OS_PROMPT } from '../helpers/test-iso.js';
import { libvirtObjects, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';

const dir = mkdtempSync(join(tmpdir(), 'vmlab-media-'));
const LAB = join(dir, 'media.yaml');
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

/**
 * Hardware emulation runs an OS vmlab knows nothing about: a bootable ISO built
 * here from Debian packages boots under the emulated profile with provision:
 * none (no seed, no agent) and is ready when its serial console prompts.
 */
describe('live: an unmodified OS from install media (boot: cdrom, provision: none)', function () {
  this.timeout(20 * 60_000);
  let iso = '';
  let isoSum = '';

  before(async () => {
    await requireLiveHost();
    await vmlab(['down', 'media']);
    iso = await buildTestIso(new ImageStore(join(defaultHostPaths().dataDir, 'images')).resolve('debian-12'), dir);
    isoSum = sha(iso);
    writeFileSync(
      LAB,
      [
        'name: media',
        'networks:',
        '  lan: { subnet: 10.30.0.0/24 }',
        'vms:',
        '  legacy:',
        '    profile: emulated',
        '    boot: cdrom',
        '    cdrom: test-os.iso',
        '    disks: [{ size: 1GiB }]',
        '    provision: none',
        `    ready: { console: "${TEST_OS_PROMPT}" }`,
        '    memory: 256MiB',
        '    nics: [{ network: lan }]',
        '',
      ].join('\n'),
    );
    // mkdtemp's folder is private (0700): QEMU, running as its own user, could not reach the ISO; up says so before creating anything.
    const refused = await vmlab(['up', LAB]);
    assert.equal(refused.exitCode, 2, String(refused.stderr));
    assert.match(String(refused.stderr), /cannot be reached by QEMU.*not searchable by others/);
    assert.deepEqual(await libvirtObjects('vmlab-media-'), []);
    chmodSync(dir, 0o755);
  });

  after(async () => {
    await vmlab(['down', 'media']);
  });

  it('up: boots the ISO and is ready when the serial console prints the login prompt; nothing was seeded', async () => {
    const t0 = Date.now();
    const r = await vmlabJson(['up', '--json', LAB]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(
      r.json.vms.map((v: { name: string; ready: boolean }) => [v.name, v.ready]),
      [['legacy', true]],
    );
    process.stdout.write(`      [live] unmodified OS from an ISO ready (console prompt) in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const log = readFileSync(join(defaultHostPaths().dataDir, 'labs', 'media', 'legacy', 'console.log'), 'utf8');
    assert.match(log, /vmlab test OS: an unmodified guest/);
    assert.ok(!existsSync(join(defaultHostPaths().dataDir, 'labs', 'media', 'legacy', 'seed.iso')), 'no cloud-init seed');
    const status = await vmlabJson(['status', '--json', LAB]);
    assert.deepEqual(
      status.json.vms.map((v: { name: string; ready: boolean; provision?: string; agent: boolean }) => [v.name, v.ready, v.provision, v.agent]),
      [['legacy', true, 'none', false]],
    );
  });

  it('exec says the guest has no agent (and how to reach it); a second up is a no-op', async () => {
    const r = await vmlab(['exec', LAB, 'legacy', '--', 'true']);
    assert.equal(r.exitCode, 255);
    assert.match(String(r.stderr), /provision: none.*no guest agent|no guest agent.*provision: none/);
    assert.match(String(r.stderr), /vmlab console/);
    const again = await vmlabJson(['up', '--json', LAB]);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.equal(again.json.upToDate, true);
  });

  it('snapshot and revert work on it (the read-only ISO is not part of the snapshot)', async () => {
    assert.equal((await vmlab(['snapshot', 'create', LAB, 'booted'])).exitCode, 0);
    const back = await vmlabJson(['snapshot', 'revert', '--json', LAB, 'booted']);
    assert.equal(back.exitCode, 0, back.stderr);
    const status = await vmlabJson(['status', '--json', LAB]);
    assert.equal(status.json.vms[0].state, 'running');
  });

  it('down leaves nothing, and the ISO is untouched', async () => {
    assert.equal((await vmlab(['down', 'media'])).exitCode, 0);
    assert.deepEqual(await libvirtObjects('vmlab-media-'), []);
    assert.ok(!existsSync(join(defaultHostPaths().dataDir, 'labs', 'media')));
    assert.equal(sha(iso), isoSum, 'the install media was never written');
  });

  it('imported into the image cache (vmlab image import FILE.iso), the same media boots from cdrom: NAME; the cache keeps its bytes', async () => {
    const imp = await vmlabJson(['image', 'import', '--json', iso, '--name', 'vmlab-test-os']);
    assert.equal(imp.exitCode, 0, imp.stderr);
    const list = await vmlabJson(['image', 'list', '--json']);
    const media = list.json.images.find((i: { name: string }) => i.name === 'vmlab-test-os');
    assert.equal(media.format, 'iso');
    assert.equal(sha(media.file), isoSum);
    const named = join(dir, 'named.yaml');
    writeFileSync(named, readFileSync(LAB, 'utf8').replace('cdrom: test-os.iso', 'cdrom: vmlab-test-os'));
    const up = await vmlabJson(['up', '--json', named]);
    assert.equal(up.exitCode, 0, up.stderr);
    assert.equal(up.json.vms[0].ready, true);
    assert.equal((await vmlab(['down', 'media'])).exitCode, 0);
    assert.equal((await vmlab(['image', 'remove', 'vmlab-test-os'])).exitCode, 0);
  });
});
