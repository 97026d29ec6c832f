import assert from 'node:assert/strict';
import { probeAutoAccel, probeHostKvm, type AccelProbeEnv } from '../../src/host/accel-probe.js';
import { VmlabError } from '../../src/errors.js';
import { upLab } from '../../src/lab-ops/up.js';
import type { AutoAccel } from '../../src/plan/plan.js';
import { fakeRuntime } from '../helpers/fake-runtime.js';
import { planFromText } from '../helpers/lab.js';

/**
 * The three kinds of host vmlab runs on, each on fakes (CI has only one of them at a time):
 * no usable /dev/kvm, a /dev/kvm that cannot run a stock guest (PVM, or whatever the SeaBIOS
 * probe catches), working KVM.
 */
const env = (paths: string[], rw = true): AccelProbeEnv => ({ exists: (p) => paths.includes(p), readWrite: () => rw });
const stock = (ok: boolean, detail: string) => async () => ({ ok, detail });

const HOSTS: Record<'none' | 'none-perm' | 'pvm' | 'seabios-dies' | 'working', () => Promise<AutoAccel>> = {
  none: () => probeHostKvm(env([]), stock(true, 'never asked')),
  'none-perm': () => probeHostKvm(env(['/dev/kvm'], false), stock(true, 'never asked')),
  pvm: () => probeHostKvm(env(['/dev/kvm', '/sys/module/kvm_pvm']), stock(true, 'never asked')),
  'seabios-dies': () => probeHostKvm(env(['/dev/kvm']), stock(false, 'error: failed to set MSR 0x48f')),
  working: () => probeHostKvm(env(['/dev/kvm']), stock(true, 'SeaBIOS ran 3 s under KVM')),
};

const KVM_LAB = `name: kvmlab
networks:
  lan: { subnet: 10.99.0.0/24 }
vms:
  k:
    accel: kvm
    nics: [{ network: lan, ip: 10.99.0.10/24 }]
  t:
    accel: tcg
    nics: [{ network: lan, ip: 10.99.0.11/24 }]
`;

describe('host kinds: what KVM is, and what accel auto and accel kvm do on each', () => {
  it('the quick probe tells the three kinds apart from files, and says why', () => {
    assert.deepEqual(probeAutoAccel(env([])).kvm, 'none');
    assert.match(probeAutoAccel(env([])).reason, /does not exist/);
    assert.deepEqual(probeAutoAccel(env(['/dev/kvm'], false)).kvm, 'none');
    assert.match(probeAutoAccel(env(['/dev/kvm'], false)).reason, /not readable and writable/);
    assert.deepEqual(probeAutoAccel(env(['/dev/kvm', '/sys/module/kvm_pvm'])).kvm, 'unusable');
    assert.deepEqual(probeAutoAccel(env(['/dev/kvm'])).kvm, 'working');
  });

  it('the full probe runs a stock guest only where the files say working, and believes it', async () => {
    let asked = 0;
    const counted = async () => {
      asked++;
      return { ok: false, detail: 'KVM internal error. Suberror: 1' };
    };
    assert.equal((await probeHostKvm(env([]), counted)).kvm, 'none');
    assert.equal((await probeHostKvm(env(['/dev/kvm', '/sys/module/kvm_pvm']), counted)).kvm, 'unusable');
    assert.equal(asked, 0, 'no QEMU started where the files already tell');
    const dies = await HOSTS['seabios-dies']();
    assert.deepEqual([dies.kvm, dies.accel], ['unusable', 'tcg']);
    assert.match(dies.reason, /failed to set MSR/);
    const ok = await HOSTS.working();
    assert.deepEqual([ok.kvm, ok.accel], ['working', 'kvm']);
  });

  for (const [name, probe] of Object.entries(HOSTS)) {
    it(`${name}: accel kvm is refused before anything is created, or comes up where KVM works`, async () => {
      const host = await probe();
      const { h, rt, disks } = fakeRuntime();
      rt.hostKvm = async () => host;
      const plan = planFromText(KVM_LAB, 'kvm.yaml');
      if (host.kvm === 'working') {
        const r = await upLab(rt, plan, { disks, bridgeExists: async () => true, timeoutMs: 5000 });
        assert.deepEqual(
          r.vms.map((v) => [v.name, v.accel, v.ready]),
          [
            ['k', 'kvm', true],
            ['t', 'tcg', true],
          ],
        );
        return;
      }
      const t0 = Date.now();
      const err = await upLab(rt, plan, { disks, bridgeExists: async () => true, timeoutMs: 5000 }).then(
        () => assert.fail('accel: kvm came up on a host without working KVM'),
        (e: unknown) => e as VmlabError,
      );
      assert.ok(err instanceof VmlabError, String(err));
      assert.equal(err.code, host.kvm === 'none' ? 'ERR_VMLAB_KVM_MISSING' : 'ERR_VMLAB_KVM_UNUSABLE');
      assert.equal(err.exitCode, 2, 'the lab file asks for what this host cannot do: a user error');
      assert.match(err.message, /^k: accel: kvm, but .*nothing was created$/);
      assert.match(err.hint!, /accel: auto/);
      assert.deepEqual(h.calls, [], 'no network, no domain');
      assert.deepEqual(disks.calls, [], 'no disk, no seed');
      assert.ok(Date.now() - t0 < 1000);
    });
  }

  it('a lab that asks no KVM never probes for it', async () => {
    const { rt, disks } = fakeRuntime();
    rt.hostKvm = async () => assert.fail('probed KVM for a lab without accel: kvm');
    const r = await upLab(rt, planFromText(KVM_LAB.replace('accel: kvm', 'accel: auto'), 'kvm.yaml'), { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    assert.ok(r.vms.every((v) => v.ready));
  });
});
