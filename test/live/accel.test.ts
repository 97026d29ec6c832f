import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeAutoAccel } from '../../src/host/accel-probe.js';
import { libvirtObjects, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';

/**
 * accel: kvm where KVM cannot run a stock guest must be reported as such, at
 * once, never as a hang. Here (PVM-nested KVM) that is what happens; on a host
 * with working KVM the same guest must become ready instead.
 */
describe('live: accel kvm on this host', function () {
  this.timeout(15 * 60_000);
  const auto = probeAutoAccel();
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

  if (auto.accel === 'tcg') {
    it(`reports "KVM cannot run this guest here" quickly (auto chose tcg: ${auto.reason})`, async () => {
      const t0 = Date.now();
      const r = await vmlabJson(['up', lab, '--timeout', '300']);
      assert.equal(r.exitCode, 1);
      const k = r.json.vms[0];
      assert.equal(k.ready, false);
      // --json keeps the error's code and hint
      assert.equal(k.error.code, 'ERR_VMLAB_KVM_UNUSABLE', JSON.stringify(k.error));
      assert.match(k.error.message, /KVM cannot run this guest here/);
      assert.match(k.error.hint, /accel: tcg/);
      assert.ok(Date.now() - t0 < 240_000, 'reported, not waited out');
    });
  } else {
    it('boots the guest under KVM (auto chose kvm)', async () => {
      const r = await vmlabJson(['up', lab]);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.json.vms[0].ready, true);
    });
  }
});
