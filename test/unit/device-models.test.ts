import assert from 'node:assert/strict';
import { parseStringPromise } from 'xml2js';
import YAML from 'yaml';
import { deviceProfiles } from '../../src/profiles/index.js';
import { CLOCKSOURCE_FILE } from '../../src/render/cloud-init.js';
import { renderExample } from '../helpers/render.js';

describe('device models', () => {
  const quick = renderExample('labs/quickstart.yaml');
  const emu = quick.vms.find((v) => v.name === 'emu')!.files['domain.xml'];
  const para = quick.vms.find((v) => v.name === 'para')!.files['domain.xml'];

  it('the emulated domain contains no "virtio" anywhere', () => {
    assert.doesNotMatch(emu, /virtio/i);
    // Here the lab's own name and file contain "virtio", so look at the hardware only.
    for (const v of renderExample('labs/emulated-vs-virtio.yaml').vms.filter((x) => x.name === 'oldpc' || x.name === 'emulated')) {
      const devices = /<devices>[\s\S]*<\/devices>/.exec(v.files['domain.xml'])![0];
      assert.doesNotMatch(devices, /virtio/i, v.name);
    }
  });

  it('the emulated domain has SATA disk, e1000 NIC, no video card, no balloon, agent on a serial port', async () => {
    const d = (await parseStringPromise(emu)).domain.devices[0];
    assert.equal(d.disk[0].target[0].$.bus, 'sata');
    assert.equal(d.interface[0].model[0].$.type, 'e1000');
    assert.equal(d.video[0].model[0].$.type, 'none');
    assert.equal(d.memballoon[0].$.model, 'none');
    assert.equal(d.rng, undefined);
    assert.equal(d.channel, undefined);
    const agent = d.serial.find((s: { $: { type: string } }) => s.$.type === 'unix');
    assert.equal(agent.target[0].$.port, '1');
    assert.equal(agent.target[0].model[0].$.name, 'isa-serial');
  });

  it('the virtio domain has virtio disk, NIC with vhost, rng, balloon and the agent channel', async () => {
    const d = (await parseStringPromise(para)).domain.devices[0];
    assert.equal(d.disk[0].target[0].$.bus, 'virtio');
    assert.equal(d.interface[0].model[0].$.type, 'virtio');
    assert.equal(d.interface[0].driver[0].$.name, 'vhost');
    assert.equal(d.rng[0].$.model, 'virtio');
    assert.equal(d.memballoon[0].$.model, 'virtio');
    assert.equal(d.channel[0].target[0].$.name, 'org.qemu.guest_agent.0');
    assert.equal(d.channel[0].target[0].$.type, 'virtio');
  });

  it('the old-PC model is i440FX with IDE and rtl8139; virtio-scsi declares its HBA', async () => {
    const lab = renderExample('labs/emulated-vs-virtio.yaml');
    const old = (await parseStringPromise(lab.vms.find((v) => v.name === 'oldpc')!.files['domain.xml'])).domain;
    assert.equal(old.os[0].type[0].$.machine, 'pc');
    assert.equal(old.devices[0].disk[0].target[0].$.bus, 'ide');
    assert.equal(old.devices[0].interface[0].model[0].$.type, 'rtl8139');
    const scsi = (await parseStringPromise(lab.vms.find((v) => v.name === 'virtioscsi')!.files['domain.xml'])).domain;
    assert.ok(scsi.devices[0].controller.some((c: { $: { type: string; model?: string } }) => c.$.type === 'scsi' && c.$.model === 'virtio-scsi'));
    assert.equal(scsi.devices[0].disk[0].target[0].$.bus, 'scsi');
  });

  it('the two main models differ only in devices: same machine, disk cache and I/O mode', async () => {
    const e = (await parseStringPromise(emu)).domain;
    const p = (await parseStringPromise(para)).domain;
    assert.equal(e.os[0].type[0].$.machine, p.os[0].type[0].$.machine);
    assert.deepEqual(e.devices[0].disk[0].driver[0].$.cache, p.devices[0].disk[0].driver[0].$.cache);
    assert.deepEqual(e.devices[0].disk[0].driver[0].$.io, p.devices[0].disk[0].driver[0].$.io);
    assert.equal(e.memory[0]._, p.memory[0]._);
    assert.equal(e.vcpu[0]._, p.vcpu[0]._);
  });

  it('guests are headless: no <graphics>, and so no video card in either model', async () => {
    for (const xml of [emu, para]) {
      const d = (await parseStringPromise(xml)).domain.devices[0];
      assert.equal(d.graphics, undefined);
      assert.deepEqual(
        d.video.map((v: { model: Array<{ $: { type: string } }> }) => v.model[0]?.$.type),
        ['none'],
      );
    }
  });

  it('every profile explains every choice in one line', () => {
    for (const p of Object.values(deviceProfiles)) {
      for (const key of ['machine', 'diskBus', 'seed', 'nic', 'video', 'memballoon', 'rng', 'agent', 'controllers'] as const) {
        const why = p[key].why;
        assert.ok(why.length > 10 && !why.includes('\n') && !why.includes('--'), `${p.name}.${key}`);
      }
      if (p.family === 'emulated') assert.doesNotMatch(JSON.stringify(p), /virtio/i, p.name);
    }
  });
});

describe("the guest's clock follows the accel", () => {
  const userData = (accel: 'kvm' | 'tcg', vm: string, lab = 'labs/quickstart.yaml') =>
    YAML.parse(renderExample(lab, accel).vms.find((v) => v.name === vm)!.files['user-data']!) as { bootcmd?: unknown[] };

  it('under TCG every VM sets the ACPI PM timer first thing at boot (the TSC runs on across a loadvm); the domain XML says why', () => {
    for (const vm of ['emu', 'para']) assert.deepEqual(userData('tcg', vm).bootcmd?.[0], ['sh', '-c', `echo acpi_pm > ${CLOCKSOURCE_FILE}`], vm);
    // Before the resolver a DHCP guest turns on: first of all bootcmds.
    assert.deepEqual(userData('tcg', 'client1', 'labs/linux-network.yaml').bootcmd?.slice(0, 2), [
      ['sh', '-c', `echo acpi_pm > ${CLOCKSOURCE_FILE}`],
      ['systemctl', 'enable', '--now', 'systemd-resolved.service'],
    ]);
    assert.match(renderExample('labs/quickstart.yaml', 'tcg').vms[0]!.files['domain.xml'], /<!-- guest clock: the ACPI PM timer, not the TSC[^>]*-->\n {2}<clock /);
  });

  it('under KVM and in containers the guest keeps its own clock: no clocksource is written', () => {
    for (const vm of ['emu', 'para']) assert.equal(userData('kvm', vm).bootcmd, undefined, vm);
    const mixed = renderExample('labs/linux-network-mixed.yaml', 'tcg');
    const containers = mixed.vms.filter((x) => x.files['domain.xml']?.includes("type='lxc'"));
    assert.ok(containers.length > 0, 'the mixed lab has containers');
    for (const v of containers) assert.doesNotMatch(v.files['user-data'] ?? '', /clocksource/, v.name);
    for (const v of mixed.vms.filter((x) => x.files['domain.xml']?.includes("type='qemu'"))) assert.match(v.files['user-data']!, /clocksource/, v.name);
  });
});

describe('device knowledge lives in src/profiles', () => {
  it('every bench configuration names a registered profile', async () => {
    const { benchConfigs, KNOWN_CONFIGS } = await import('../../src/bench/matrix.js');
    const { anyProfile } = await import('../../src/profiles/index.js');
    for (const c of benchConfigs(KNOWN_CONFIGS)) if (c.profile !== undefined) assert.ok(anyProfile(c.profile), `${c.name}: ${c.profile}`);
  });

  it("discard follows the bus: IDE has no TRIM, so the old PC's disks get no discard=unmap", async () => {
    const { renderLab } = await import('../../src/render/index.js');
    const { planFromText, readLab } = await import('../helpers/lab.js');
    const plan = planFromText(readLab('labs/emulated-vs-virtio.yaml'), 'labs/emulated-vs-virtio.yaml');
    const xml = (vm: string) => renderLab(plan).vms.find((v) => v.name === vm)!.files['domain.xml'];
    const drivers = (vm: string) =>
      [...xml(vm).matchAll(/<driver name='qemu' type='(\w+)'[^>]*?( discard='unmap')?\/>\s*<source file='[^']*\/(\w+)\.\w+'\/>\s*<target dev='\w+' bus='(\w+)'/g)].map(
        (m) => `${m[3]} ${m[4]}${m[2] ? ' discard' : ''}`,
      );
    assert.deepEqual(drivers('oldpc'), ['root ide', 'disk1 sata discard', 'seed ide']);
    assert.deepEqual(drivers('emulated'), ['root sata discard', 'disk1 sata discard', 'seed sata']);
  });
});
