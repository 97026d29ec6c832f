import assert from 'node:assert/strict';
import { bridgeNameFor, macFor } from '../../src/lab/names.js';
import { agentSocketPath, planLab } from '../../src/plan/plan.js';
import { parseLab } from '../../src/lab/load.js';
import { probeAutoAccel } from '../../src/host/accel-probe.js';
import { planFromText, MINIMAL, labErrorOf } from '../helpers/lab.js';

describe('plan', () => {
  it('derives bridge names within the 15-character Linux limit', () => {
    assert.equal(bridgeNameFor('lab', 'lan'), 'vl-lab-lan');
    for (const [lab, net] of [
      ['quickstart', 'lan'],
      ['a-very-long-lab-name-xx', 'a-long-network-name-here'],
      ['x', 'y'],
    ] as const) {
      const b = bridgeNameFor(lab, net);
      assert.ok(b.length <= 15, b);
      assert.match(b, /^[a-z0-9-]+$/);
      assert.equal(bridgeNameFor(lab, net), b, 'deterministic');
    }
  });

  it('derives stable, unicast MACs in 52:54:00', () => {
    const m = macFor('lab', 'vm', 0);
    assert.match(m, /^52:54:00(:[0-9a-f]{2}){3}$/);
    assert.equal(macFor('lab', 'vm', 0), m);
    assert.notEqual(macFor('lab', 'vm', 1), m);
    assert.notEqual(macFor('lab2', 'vm', 0), m);
  });

  it('names everything vmlab-<lab>-… and places files under the data dir', () => {
    const p = planFromText(MINIMAL);
    const vm = p.vms[0]!;
    assert.equal(vm.domainName, 'vmlab-t-a');
    assert.equal(p.networks[0]!.libvirtName, 'vmlab-t-lan');
    assert.deepEqual(
      vm.disks.map((d) => [d.role, d.path, d.dev]),
      [
        ['root', '/var/lib/vmlab/labs/t/a/root.qcow2', 'vda'],
        ['seed', '/var/lib/vmlab/labs/t/a/seed.iso', 'vdb'],
      ],
    );
    assert.equal(vm.disks[0]!.backingFile, '/var/lib/vmlab/images/debian-12.qcow2');
  });

  it('resolves accel auto explicitly and says why', () => {
    const lab = parseLab('t.yaml', MINIMAL);
    const p = planLab(lab, { paths: { dataDir: '/d', runDir: '/r' }, autoAccel: { accel: 'tcg', reason: 'no /dev/kvm' } });
    assert.equal(p.vms[0]!.accel.name, 'tcg');
    assert.equal(p.vms[0]!.accel.domainType, 'qemu');
    assert.equal(p.vms[0]!.accelReason, 'auto: no /dev/kvm');
    const fixed = planLab(parseLab('t.yaml', MINIMAL.replace('  a:\n', '  a:\n    accel: kvm\n')), { paths: { dataDir: '/d', runDir: '/r' }, autoAccel: { accel: 'tcg', reason: 'x' } });
    assert.equal(fixed.vms[0]!.accel.domainType, 'kvm');
  });

  it('picks tcg on PVM-nested or missing KVM, kvm otherwise', () => {
    const env = (paths: string[], rw = true) => ({ exists: (p: string) => paths.includes(p), readWrite: () => rw });
    assert.equal(probeAutoAccel(env([])).accel, 'tcg');
    assert.match(probeAutoAccel(env(['/dev/kvm', '/sys/module/kvm_pvm'])).reason, /PVM/);
    assert.equal(probeAutoAccel(env(['/dev/kvm'], false)).accel, 'tcg');
    assert.equal(probeAutoAccel(env(['/dev/kvm'])).accel, 'kvm');
  });

  it('keeps agent socket paths within the unix socket limit', () => {
    const long = 'vmlab-' + 'x'.repeat(24) + '-' + 'y'.repeat(63);
    assert.ok(Buffer.byteLength(agentSocketPath('/run/vmlab', long)) <= 107);
    assert.equal(agentSocketPath('/run/vmlab', 'vmlab-a-b'), '/run/vmlab/vmlab-a-b.agent.sock');
  });

  it('the VM hash changes with the VM definition only', () => {
    const a = planFromText(MINIMAL + '  b:\n    nics: [{network: lan, ip: 10.0.0.11/24}]\n');
    const b = planFromText(MINIMAL + '  b:\n    memory: 1GiB\n    nics: [{network: lan, ip: 10.0.0.11/24}]\n');
    assert.equal(a.vms[0]!.hash, b.vms[0]!.hash);
    assert.notEqual(a.vms[1]!.hash, b.vms[1]!.hash);
  });

  it('refuses more IDE devices than an IDE machine has', () => {
    const e = labErrorOf(MINIMAL.replace('  a:\n', '  a:\n    profile: emulated-pc\n    disks: [{size: 1GiB}, {size: 1GiB}, {size: 1GiB}]\n'));
    assert.match(e.issues[0]!.message, /IDE devices/);
  });

  it('uses vhost-net only under KVM', () => {
    const p = planFromText(MINIMAL);
    assert.equal(p.vms[0]!.nics[0]!.vhost, true);
    const t = planLab(parseLab('t.yaml', MINIMAL), { paths: { dataDir: '/d', runDir: '/r' }, autoAccel: { accel: 'tcg', reason: 'x' } });
    assert.equal(t.vms[0]!.nics[0]!.vhost, false);
  });
});
