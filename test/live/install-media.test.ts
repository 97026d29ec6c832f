import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStore } from '../../src/host/image-store.js';
import { defaultHostPaths } from '../../src/paths.js';
import { whereLibvirtd } from '../../src/host/host-net.js';
import { execa } from 'execa';
import { buildTestIso, imageE1000, TEST_OS_PAGE, TEST_OS_PROMPT } from '../helpers/test-iso.js';
import { libvirtObjects, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';

const dir = mkdtempSync(join(tmpdir(), 'vmlab-media-'));
const LAB = join(dir, 'media.yaml');
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
/** The test OS sets this address itself and starts a web server on PORT a few seconds after its prompt. */
const GUEST = '10.30.0.30';
const PORT = 8080;

/** An HTTP GET from where libvirtd runs (the lab's bridge and the host's address on it exist only there). */
async function httpGet(address: string, port: number): Promise<string> {
  const [cmd, args] = whereLibvirtd(['nc', '-w', '5', address, String(port)]);
  const r = await execa(cmd, args, { input: 'GET / HTTP/1.0\r\n\r\n', reject: false, timeout: 20_000 });
  assert.equal(r.exitCode, 0, `nc ${address} ${port}: ${String(r.stderr)}`);
  return String(r.stdout);
}

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
    const image = new ImageStore(join(defaultHostPaths().dataDir, 'images')).resolve('debian-12');
    iso = await buildTestIso(image, dir, { e1000: await imageE1000(image, defaultHostPaths().dataDir), address: `${GUEST}/24`, port: PORT, afterS: 6 });
    isoSum = sha(iso);
    writeFileSync(
      LAB,
      [
        'name: media',
        'networks:',
        '  lan: { subnet: 10.30.0.0/24, host-address: 10.30.0.1 }',
        'vms:',
        '  legacy:',
        '    profile: emulated',
        '    boot: cdrom',
        '    cdrom: test-os.iso',
        '    disks: [{ size: 1GiB }]',
        '    provision: none',
        `    ready: { console: "${TEST_OS_PROMPT}", tcp: ${PORT} }`,
        '    memory: 256MiB',
        `    nics: [{ network: lan, ip: ${GUEST}/24 }]`,
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

  it('up: boots the ISO and is ready when the serial console prints the login prompt and its port answers the host; nothing was seeded', async () => {
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
    // The prompt comes 6 s before the web server: up waited for the port, not only for the console.
    assert.match(log, new RegExp(`httpd listens on ${GUEST.replace(/\./g, '\\.')}:${PORT}`));
    assert.match(await httpGet(GUEST, PORT), new RegExp(TEST_OS_PAGE));
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

  it('a port that never answers: up fails within its timeout, naming the port and the address (exit 1)', async () => {
    const shut = join(dir, 'shut.yaml');
    writeFileSync(
      shut,
      readFileSync(LAB, 'utf8')
        .replace('name: media', 'name: media-shut')
        .replace(`tcp: ${PORT}`, 'tcp: 8081')
        .replace(/10\.30\./g, '10.31.'),
    );
    try {
      const t0 = Date.now();
      const r = await vmlab(['up', '--timeout', '45', shut]);
      assert.equal(r.exitCode, 1, String(r.stderr));
      // Its own bridge and subnet (the host cannot have one subnet on two bridges); nothing listens at 10.31.0.30.
      assert.match(`${String(r.stdout)}${String(r.stderr)}`, /legacy: port 8081 of 10\.31\.0\.30 did not answer the host within 45 s/);
      assert.ok(Date.now() - t0 < 120_000, `gave up after ${Date.now() - t0} ms`);
    } finally {
      assert.equal((await vmlab(['down', 'media-shut'])).exitCode, 0);
    }
    assert.deepEqual(await libvirtObjects('vmlab-media-shut-'), []);
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
