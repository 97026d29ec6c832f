import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { libvirtObjects, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';

const LAB = 'labs/unmodified-os.yaml';
const dir = mkdtempSync(join(tmpdir(), 'vmlab-capture-'));

async function guest(vm: string, args: string[]) {
  const r = await vmlab(['exec', LAB, vm, '--', ...args]);
  return { code: r.exitCode ?? -1, out: String(r.stdout), err: String(r.stderr) };
}

/**
 * Paravirtualization needs a ported OS: debian-12-novirtio (every virtio
 * driver removed) boots on emulated hardware, and on virtio devices vmlab
 * recognises the guest stuck in its initramfs and says why.
 */
describe('live: an OS never ported to virtio (debian-12-novirtio under emulated and virtio)', function () {
  this.timeout(30 * 60_000);

  before(async () => {
    await requireLiveHost();
    await vmlab(['down', 'unmodified-os']);
    const built = await vmlab(['image', 'build', 'debian-12-novirtio'], { timeout: 20 * 60_000 });
    assert.equal(built.exitCode, 0, String(built.stderr));
  });

  after(async () => {
    await vmlab(['down', 'unmodified-os']);
    await vmlab(['down', 'captured']);
  });

  it('up: the emulated guest is ready; the virtio guest fails within the timeout saying it has no virtio drivers (exit 1)', async () => {
    const t0 = Date.now();
    const r = await vmlabJson(['up', '--json', LAB]);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(r.exitCode, 1, r.stderr);
    const vm = (name: string) => r.json.vms.find((v: { name: string }) => v.name === name);
    assert.equal(vm('emulated').ready, true);
    assert.equal(vm('paravirt').ready, false);
    assert.equal(vm('paravirt').error.code, 'ERR_VMLAB_NO_ROOT_DISK');
    assert.match(vm('paravirt').error.message, /this guest's OS has no virtio drivers: paravirtualization needs a ported OS; use profile emulated/);
    assert.match(vm('paravirt').error.hint, /Gave up waiting for root|does not exist/);
    assert.ok(seconds < 600, `reported after ${seconds} s, not a bare timeout (600 s under TCG)`);
    process.stdout.write(`      [live] debian-12-novirtio: emulated ready, virtio reported without drivers after ${seconds.toFixed(0)} s\n`);
  });

  it('inside the emulated guest no virtio module exists: none loaded, none on disk, none in the initramfs, none built in', async () => {
    assert.equal((await guest('emulated', ['sh', '-c', 'lsmod | grep -c virtio'])).out.trim(), '0');
    const modinfo = await guest('emulated', ['modinfo', 'virtio_blk']);
    assert.notEqual(modinfo.code, 0);
    assert.match(modinfo.err, /not found/);
    assert.equal((await guest('emulated', ['find', '/lib/modules', '-name', '*virtio*'])).out.trim(), '');
    assert.equal((await guest('emulated', ['sh', '-c', 'lsinitramfs /boot/initrd.img-* | grep -c virtio'])).out.trim(), '0');
    assert.equal((await guest('emulated', ['sh', '-c', 'cat /lib/modules/*/modules.builtin | grep -c virtio'])).out.trim(), '0');
    const disk = await guest('emulated', ['sh', '-c', 'basename $(readlink /sys/block/sda/device/driver)']);
    assert.equal(disk.code, 0, 'its disk is the emulated SATA one');
  });

  it('image capture: the emulated guest (shut down, flattened) becomes an image a new lab boots, with what was done in it', async () => {
    assert.equal((await guest('emulated', ['sh', '-c', 'echo installed-once > /root/marker && sync'])).code, 0);
    const cap = await vmlabJson(['image', 'capture', '--json', LAB, 'emulated', '--name', 'novirtio-captured']);
    assert.equal(cap.exitCode, 0, cap.stderr);
    assert.equal(cap.json.shutdown, 'asked', 'the guest shut down when asked (ACPI)');
    const list = await vmlabJson(['image', 'list', '--json']);
    const img = list.json.images.find((i: { name: string }) => i.name === 'novirtio-captured');
    assert.equal(img.source, 'capture');
    assert.match(img.origin, /lab unmodified-os, VM emulated/);
    const file = join(dir, 'from-capture.yaml');
    writeFileSync(file, 'name: captured\nvms:\n  again:\n    image: novirtio-captured\n    profile: emulated\n    memory: 512MiB\n');
    const up = await vmlab(['up', file], { timeout: 15 * 60_000 });
    assert.equal(up.exitCode, 0, String(up.stderr));
    const marker = await vmlab(['exec', file, 'again', '--', 'cat', '/root/marker']);
    assert.equal(String(marker.stdout).trim(), 'installed-once');
    assert.equal((await vmlab(['down', 'captured'])).exitCode, 0);
    assert.equal((await vmlab(['image', 'remove', 'novirtio-captured'])).exitCode, 0);
  });

  it('down leaves nothing of the lab', async () => {
    assert.equal((await vmlab(['down', 'unmodified-os'])).exitCode, 0);
    assert.deepEqual(await libvirtObjects('vmlab-unmodified-os-'), []);
  });
});
