import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostKvm } from '../../src/host/accel-probe.js';
import { libvirtObjects, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';

/**
 * accel: kvm on this host, whichever of the three kinds it is (host/accel-probe.ts): on a host
 * with no usable /dev/kvm, or with one that cannot run a stock guest (PVM), it is refused at
 * once with that kind's code and nothing is created; where KVM works the guest becomes ready.
 * The kinds this host is not are covered on fakes (unit/host-kinds.test.ts).
 */
describe('live: accel kvm on this host', function () {
  this.timeout(15 * 60_000);
  let lab: string;

  before(async () => {
    await requireLiveHost();
    const dir = mkdtempSync(join(tmpdir(), 'vmlab-kvm-'));
    lab = join(dir, 'kvm.yaml');
    writeFileSync(lab, 'name: kvmcheck\nnetworks:\n  lan: { subnet: 10.99.0.0/24 }\nvms:\n  k:\n    accel: kvm\n    nics: [{ network: lan, ip: 10.99.0.10/24 }]\n');
  });
  after(async () => {
    await vmlab(['down', 'kvmcheck']);
    assert.deepEqual(await libvirtObjects('vmlab-kvmcheck-'), []);
  });

  it('accel kvm: refused at once where KVM cannot run a stock guest, ready where it can', async () => {
    const host = await hostKvm();
    process.stdout.write(`      [live] this host's KVM: ${host.kvm} (${host.reason})\n`);
    const t0 = Date.now();
    const r = await vmlabJson(['up', lab, '--timeout', '300']);
    if (host.kvm === 'working') {
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.json.vms[0].ready, true);
      return;
    }
    assert.equal(r.exitCode, 2, r.stderr);
    assert.equal(r.json.error.code, host.kvm === 'none' ? 'ERR_VMLAB_KVM_MISSING' : 'ERR_VMLAB_KVM_UNUSABLE', JSON.stringify(r.json));
    assert.match(r.json.error.message, /accel: kvm, but .*nothing was created/);
    assert.match(r.json.error.hint, /accel: auto/);
    assert.ok(Date.now() - t0 < 30_000, `reported within seconds, not waited out (${Date.now() - t0} ms)`);
    assert.deepEqual(await libvirtObjects('vmlab-kvmcheck-'), [], 'nothing created');
  });

  it('accel auto says what it chose and why', async () => {
    const host = await hostKvm();
    const r = await vmlabJson(['doctor']);
    assert.equal(r.json.accel.kvm, host.kvm, JSON.stringify(r.json.accel));
    assert.equal(r.json.accel.accel, host.kvm === 'working' ? 'kvm' : 'tcg');
    assert.ok(r.json.accel.reason.length > 10);
  });
});
