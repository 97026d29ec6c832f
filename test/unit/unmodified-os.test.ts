import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importImage } from '../../src/host/image-import.js';
import { ImageStore } from '../../src/host/image-store.js';
import { parseStringPromise } from 'xml2js';
import type { VmlabError } from '../../src/errors.js';
import { createRuntime } from '../../src/lab-ops/runtime.js';
import { isoBytesProblem } from '../../src/host/iso-check.js';
import { upLab } from '../../src/lab-ops/up.js';
import { captureVmImage } from '../../src/lab-ops/image-capture.js';
import { ROOT_MISSING } from '../../src/lab-ops/readiness.js';
import { loadRecipe } from '../../src/images/recipe.js';
import { deviceProfiles, rootDiskMissing } from '../../src/profiles/index.js';
import { renderLab } from '../../src/render/index.js';
import { fakeRuntime } from '../helpers/fake-runtime.js';
import { planFromText, readLab, labIssues } from '../helpers/lab.js';

const LAB = readLab('labs/install-media.yaml');

const issues = (text: string) => labIssues(text, '/labs/x.yaml');

describe('unmodified OSes: install media and guests vmlab does not provision', () => {
  const plan = planFromText(LAB, '/work/labs/install-media.yaml');
  const legacy = plan.vms.find((v) => v.name === 'legacy')!;

  it("plan: no image, no seed, no agent; the ISO read-only on the profile's CD-ROM bus, booted first, the empty disk next", () => {
    assert.equal(legacy.image, undefined);
    assert.equal(legacy.provision, 'none');
    assert.equal(legacy.agent.transport, 'none');
    assert.equal(legacy.consoleReady, 'login:');
    assert.deepEqual(
      legacy.disks.map((d) => [d.role, d.device, d.bus, d.readonly, d.bootOrder ?? null, d.role === 'media' ? d.path : '']),
      [
        ['data', 'disk', 'sata', false, 2, ''],
        ['media', 'cdrom', 'sata', true, 1, '/work/labs/isos/install.iso'],
      ],
    );
  });

  it('render: domain XML without an agent channel, vmlab metadata says provision none; no cloud-init files', async () => {
    const r = renderLab(plan).vms.find((v) => v.name === 'legacy')!;
    assert.deepEqual(Object.keys(r.files), ['domain.xml']);
    assert.deepEqual(r.probes, []);
    const xml = r.files['domain.xml'];
    assert.doesNotMatch(xml, /guest_agent|<channel/);
    assert.match(xml, /provision='none'/);
    const d = (await parseStringPromise(xml)) as { domain: { devices: Array<{ disk: Array<{ $: { device: string }; readonly?: unknown[]; boot?: Array<{ $: { order: string } }> }> }> } };
    const cd = d.domain.devices[0]!.disk.find((x) => x.$.device === 'cdrom')!;
    assert.ok(cd.readonly);
    assert.equal(cd.boot?.[0]?.$.order, '1');
    const helper = renderLab(plan).vms.find((v) => v.name === 'helper')!;
    assert.ok(helper.files['user-data'], 'the provisioned guest next to it keeps its seed');
  });

  it('validation: what needs an agent or a seed is refused for provision: none, with a hint', () => {
    const base = LAB.replace('    ready: { console: "login:" }\n', '');
    assert.deepEqual(issues(base), []);
    assert.deepEqual(issues(base.replace('    provision: none\n', '    provision: none\n    services: [web]\n')), [
      'vms.legacy.services: services are configured through cloud-init and probed through the guest agent, which a guest with provision: none does not have',
    ]);
    assert.deepEqual(issues(base.replace('    provision: none\n', '    provision: none\n    ready: { run: ["true"] }\n')), [
      'vms.legacy.ready: probes run through the guest agent, which a guest with provision: none does not have',
    ]);
    assert.deepEqual(issues(base.replace('    provision: none\n', '')), ['vms.legacy.boot: a guest booted from install media is not provisioned by cloud-init']);
    assert.deepEqual(issues(base.replace('    cdrom: isos/install.iso\n', '')), ['vms.legacy.boot: boot: cdrom needs cdrom: (the install media)']);
    assert.deepEqual(issues(base.replace('    provision: none\n', '    provision: none\n    ready: { console: "(" }\n'))[0]?.split(':')[0], 'vms.legacy.ready.console');
  });

  it('up: missing or non-bootable media is refused before anything is created; a guest without agent is ready when its console matches', async () => {
    const { rt, disks, h } = fakeRuntime();
    const noIso = planFromText(LAB.replace('cdrom: isos/install.iso', 'cdrom: isos/install.img'), '/work/labs/install-media.yaml');
    await assert.rejects(upLab(rt, noIso, { disks, bridgeExists: async () => true, timeoutMs: 5000 }), /install media \/work\/labs\/isos\/install\.img: is not an ISO/);
    assert.deepEqual(h.calls, []);
    const r = await upLab(rt, { ...plan, vms: plan.vms.map((v) => (v.name === 'legacy' ? { ...v, consoleReady: undefined } : v)) }, { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    assert.deepEqual(
      r.vms.map((v) => [v.name, v.ready]),
      [
        ['legacy', true],
        ['helper', true],
      ],
    );
    assert.ok(!disks.calls.some((c) => c.includes('legacy') && /clone|seed/.test(c)), disks.calls.join(', '));
    assert.ok(disks.calls.some((c) => c === `create ${plan.vms[0]!.dir}/disk1.qcow2`));
    const real = createRuntime(h, rt.paths);
    await assert.rejects(real.agentFor('vmlab-install-media-legacy', 'legacy'), (e: VmlabError) => e.exitCode === 2 && /provision: none/.test(e.message) && /vmlab console/.test(e.hint!));
  });

  describe('ready: { tcp: PORT }: the host connects to a port of the guest', () => {
    const tcpLab = (ready: string, net = '  lan: { subnet: 10.20.0.0/24, host-address: 10.20.0.1 }', nic = '      - { network: lan, ip: 10.20.0.30/24 }') =>
      LAB.replace('    ready: { console: "login:" }\n', `    ready: ${ready}\n`)
        .replace('  lan: { subnet: 10.20.0.0/24 }', net)
        .replace('    nics:\n      - network: lan\n  helper:', `    nics:\n${nic}\n  helper:`);

    it("validation: the guest's address on a network the host has an address on; else a hint that says what to add", () => {
      assert.deepEqual(issues(tcpLab('{ tcp: 8080 }')), []);
      assert.deepEqual(issues(tcpLab('{ console: "login:", tcp: 8080 }')), []);
      assert.deepEqual(issues(tcpLab('{ tcp: 8080, address: 10.20.0.40 }', undefined, '      - network: lan')), []);
      assert.deepEqual(issues(tcpLab('{ tcp: 8080 }', '  lan: { subnet: 10.20.0.0/24 }')), [
        'vms.legacy.ready.tcp: the host has no address on any network of this VM, so it cannot connect to the port',
      ]);
      assert.match(labIssues(tcpLab('{ tcp: 8080 }', '  lan: { subnet: 10.20.0.0/24 }'), '/labs/x.yaml', true)[0]!, /host-address: 10\.20\.0\.1/);
      assert.deepEqual(issues(tcpLab('{ tcp: 8080 }', undefined, '      - network: lan')), [
        'vms.legacy.ready.tcp: vmlab does not know the guest\'s address on network "lan": it does not provision this guest',
      ]);
      assert.deepEqual(issues(tcpLab('{ tcp: 8080, address: 10.99.0.4 }')), ["vms.legacy.ready.address: is on none of this VM's networks the host has an address on (lan 10.20.0.0/24)"]);
      assert.deepEqual(issues(tcpLab('{ tcp: 8080, address: 10.20.0.1 }')), ['vms.legacy.ready.address: is the host\'s own address on network "lan", not the guest\'s']);
      assert.equal(issues(tcpLab('{ tcp: 70000 }'))[0]?.split(':')[0], 'vms.legacy.ready.tcp');
      assert.deepEqual(issues(tcpLab('{ address: 10.20.0.30 }')), ['vms.legacy.ready.address: is the address to connect to for tcp:, which is missing']);
      const provisioned = readLab('labs/quickstart.yaml').replace('    profile: virtio ', '    ready: { tcp: 22 }\n    profile: virtio ');
      assert.ok(
        issues(provisioned).some((i) => i.includes('a console pattern or a TCP port is for guests vmlab does not provision')),
        issues(provisioned).join('\n'),
      );
    });

    it('up: ready once the port answers (after the console pattern when both are given); a port that stays shut is named, not a bare timeout', async () => {
      const p = planFromText(tcpLab('{ console: "login:", tcp: 8080 }'), '/work/labs/install-media.yaml');
      const vm = p.vms.find((v) => v.name === 'legacy')!;
      assert.deepEqual(vm.tcpReady, { address: (10 << 24) + (20 << 16) + 30, port: 8080, network: 'lan' });
      const consoleOnly = planFromText(tcpLab('{ console: "other" }'), '/work/labs/install-media.yaml').vms.find((v) => v.name === 'legacy')!;
      assert.equal(vm.hash, consoleOnly.hash, 'readiness is not part of the hash');
      const fake = fakeRuntime();
      const agentOnly = { ...p, vms: p.vms.filter((v) => v.name === 'legacy').map((v) => ({ ...v, consoleReady: undefined })) };
      fake.tcp.open.add('10.20.0.30:8080');
      const ok = await upLab(fake.rt, agentOnly, { disks: fake.disks, bridgeExists: async () => true, timeoutMs: 3000 });
      assert.deepEqual(
        ok.vms.map((v) => [v.name, v.ready]),
        [['legacy', true]],
      );
      assert.deepEqual(fake.tcp.calls, ['10.20.0.30:8080']);
      const shut = fakeRuntime();
      const r = await upLab(shut.rt, agentOnly, { disks: shut.disks, bridgeExists: async () => true, timeoutMs: 1500 });
      assert.equal(r.vms[0]!.ready, false);
      assert.equal(r.vms[0]!.error?.code, 'ERR_VMLAB_TCP_NOT_READY');
      assert.match(r.vms[0]!.error!.message, /legacy: port 8080 of 10\.20\.0\.30 did not answer the host within 2 s/);
      assert.ok(shut.tcp.calls.length >= 2, 'tried again until the deadline');
    });
  });

  it('ISO check: ISO 9660 with an El Torito boot record', () => {
    const iso = Buffer.alloc(0x8800 + 64);
    assert.match(isoBytesProblem(iso)!, /not an ISO 9660/);
    iso.write('CD001', 0x8001, 'latin1');
    assert.match(isoBytesProblem(iso)!, /not bootable/);
    iso.write('CD001', 0x8801, 'latin1');
    iso.write('EL TORITO SPECIFICATION', 0x8807, 'latin1');
    assert.equal(isoBytesProblem(iso), undefined);
  });
});

describe('an OS never ported to virtio: the debian-12-novirtio recipe', () => {
  it('extends debian-12: its packages and files, without the virtio drivers in the initramfs, and removes every virtio module', () => {
    const base = loadRecipe('debian-12');
    const r = loadRecipe('debian-12-novirtio');
    assert.equal(r.base, 'debian-12');
    assert.deepEqual(r.packages, base.packages);
    assert.deepEqual(r.filesDirs, base.filesDirs);
    assert.deepEqual(r.removeModules, ['*virtio*', 'vhost*']);
    assert.ok(base.initramfsModules.some((m) => m.startsWith('virtio')));
    assert.ok(!r.initramfsModules.some((m) => /virtio/.test(m)));
    assert.notEqual(r.hash, base.hash);
  });

  it('a guest stuck in its initramfs on a paravirtual model is told it lacks the drivers of a ported OS', () => {
    assert.ok(ROOT_MISSING.test('Gave up waiting for root file system device.  Common problems:'));
    assert.ok(ROOT_MISSING.test('ALERT!  LABEL=vmlab-root does not exist.  Dropping to a shell!'));
    assert.match(rootDiskMissing(deviceProfiles.virtio!), /no virtio drivers: paravirtualization needs a ported OS; use profile emulated/);
    assert.doesNotMatch(rootDiskMissing(deviceProfiles.emulated!), /virtio/);
  });
});

describe('image capture: a lab VM as an image (on fakes)', () => {
  const quick = planFromText(readLab('labs/quickstart.yaml'), 'labs/quickstart.yaml');
  const published: string[] = [];
  const publish = async (disk: string, format: string, name: string, origin: string) => {
    published.push(`${name} ← ${disk} (${format}): ${origin}`);
    return { name, version: 'abc', file: `/images/${name}@abc.qcow2` };
  };

  it('asks the guest to shut down, then flattens its system disk into a new image with its origin', async () => {
    const { rt, disks, h } = fakeRuntime();
    await upLab(rt, quick, { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    published.length = 0;
    const r = await captureVmImage(rt, { lab: 'quickstart', vm: 'para', name: 'my-os', publish });
    assert.equal(r.shutdown, 'asked');
    assert.ok(h.calls.includes('shutdown vmlab-quickstart-para'));
    assert.deepEqual(published, [`my-os ← ${quick.vms[1]!.dir}/root.qcow2 (qcow2): captured from lab quickstart, VM para (virtio profile), disk vda`]);
    const forced = await captureVmImage(rt, { lab: 'quickstart', vm: 'emu', name: 'my-os', force: true, publish });
    assert.equal(forced.shutdown, 'forced');
    assert.ok(h.calls.includes('destroy vmlab-quickstart-emu'));
  });

  it('a guest that ignores the power button is not captured; unknown VMs and labs are user errors', async () => {
    const { rt, disks, h } = fakeRuntime();
    await upLab(rt, quick, { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    h.shutdownDomain = async () => {};
    published.length = 0;
    await assert.rejects(
      captureVmImage(rt, { lab: 'quickstart', vm: 'para', name: 'x', timeoutMs: 1200, publish }),
      (e: VmlabError) => e.code === 'ERR_VMLAB_SHUTDOWN_TIMEOUT' && /--force/.test(e.hint!),
    );
    assert.deepEqual(published, []);
    await assert.rejects(captureVmImage(rt, { lab: 'quickstart', vm: 'r9', name: 'x', publish }), (e: VmlabError) => e.exitCode === 2 && /emu, para/.test(e.hint!));
    await assert.rejects(captureVmImage(rt, { lab: 'nope', vm: 'r9', name: 'x', publish }), (e: VmlabError) => e.code === 'ERR_VMLAB_LAB_DOWN');
  });
});

describe('install media in the image cache (vmlab image import FILE.iso; cdrom: NAME)', () => {
  const fakeIso = (bootable: boolean) => {
    const iso = Buffer.alloc(0x8800 + 2048);
    iso.write('CD001', 0x8001, 'latin1');
    if (bootable) {
      iso.write('CD001', 0x8801, 'latin1');
      iso.write('EL TORITO SPECIFICATION', 0x8807, 'latin1');
    }
    const f = join(mkdtempSync(join(tmpdir(), 'vmlab-iso-')), 'x.iso');
    writeFileSync(f, iso);
    return f;
  };

  it('an ISO is kept byte for byte as install media: listed, resolved as media, refused as a disk; a non-bootable one is refused', async () => {
    const store = new ImageStore(mkdtempSync(join(tmpdir(), 'vmlab-store-')));
    const src = fakeIso(true);
    const info = await importImage(store, src, 'installer');
    assert.equal(info.format, 'iso');
    assert.match(info.file, /installer@[0-9a-f]{12}\.iso$/);
    assert.deepEqual(readFileSync(info.file), readFileSync(src));
    assert.deepEqual(
      store.list().map((i) => [i.name, i.format]),
      [['installer', 'iso']],
    );
    assert.equal(store.resolveMedia('installer'), info.file);
    assert.throws(
      () => store.resolve('installer'),
      (e: VmlabError) => e.code === 'ERR_VMLAB_IMAGE_IS_MEDIA' && /cdrom: installer/.test(e.hint!),
    );
    await assert.rejects(importImage(store, fakeIso(false), 'broken'), (e: VmlabError) => e.exitCode === 2 && /not bootable/.test(e.message));
    assert.deepEqual(store.remove('installer', () => false).removed, [info.file]);
    assert.deepEqual(store.list(), []);
  });

  it('cdrom: NAME names imported media, a path has a "/" or ends in .iso; a profile without a CD-ROM is refused', () => {
    const named = planFromText(LAB.replace('cdrom: isos/install.iso', 'cdrom: installer'), '/work/labs/install-media.yaml');
    const media = named.vms[0]!.disks.find((d) => d.role === 'media')!;
    assert.equal(media.path, '/var/lib/vmlab/images/installer.iso');
    assert.equal(media.mediaImage, 'installer');
    assert.deepEqual(issues(LAB.replace('profile: emulated\n    boot', 'profile: virtio\n    boot')), [
      'vms.legacy.cdrom: profile virtio has no CD-ROM: its read-only media are virtio disks, and a BIOS boots install media only from a CD-ROM',
    ]);
    assert.deepEqual(issues(LAB.replace('profile: emulated\n    boot', 'profile: virtio-scsi\n    boot')), []);
  });
});
