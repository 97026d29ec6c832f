import { accessSync, constants, existsSync } from 'node:fs';
import type { AutoAccel } from '../plan/plan.js';
import { kvmRunsStockGuest } from './kvm-check.js';

/**
 * What KVM is on this host, and so what `accel: auto` means here, said with why.
 * Three kinds of host, each handled on purpose:
 * - `none`: no /dev/kvm, or not readable and writable by this user (a container without the
 *   device, a cloud VM without nested virtualization);
 * - `unusable`: /dev/kvm exists but cannot run a stock guest: KVM nested through PVM (kvm_pvm
 *   loaded: SeaBIOS/OVMF guests die with "emulation failure"), or whatever else the SeaBIOS probe
 *   catches (kvm-check.ts);
 * - `working`: KVM runs a stock guest.
 * `accel: auto` chooses kvm only on the last; `accel: kvm` on the first two is refused before
 * anything is created (lab-ops/up.ts).
 */
export interface AccelProbeEnv {
  exists(path: string): boolean;
  readWrite(path: string): boolean;
}

const realEnv: AccelProbeEnv = {
  exists: existsSync,
  readWrite: (p) => {
    try {
      accessSync(p, constants.R_OK | constants.W_OK);
      return true;
    } catch {
      return false;
    }
  },
};

/** The quick answer, from files only (no process started): used by every plan. */
export function probeAutoAccel(env: AccelProbeEnv = realEnv): AutoAccel {
  if (!env.exists('/dev/kvm')) return { accel: 'tcg', kvm: 'none', reason: '/dev/kvm does not exist (no KVM on this host): tcg only' };
  if (!env.readWrite('/dev/kvm')) return { accel: 'tcg', kvm: 'none', reason: '/dev/kvm is not readable and writable by this user: tcg only' };
  if (env.exists('/sys/module/kvm_pvm')) {
    return { accel: 'tcg', kvm: 'unusable', reason: 'KVM here is nested through PVM (kvm_pvm loaded): stock guests stop with "emulation failure", tcg only' };
  }
  return { accel: 'kvm', kvm: 'working', reason: '/dev/kvm is usable' };
}

/** Runs a stock guest under KVM for a few seconds: the SeaBIOS probe (kvm-check.ts). */
export type StockGuestProbe = () => Promise<{ ok: boolean; detail: string }>;

/**
 * The full answer: the quick one, and where it says `working`, a stock guest run under KVM for a
 * few seconds to prove it (a /dev/kvm that the quick probe cannot fault may still fail there).
 */
export async function probeHostKvm(env: AccelProbeEnv = realEnv, stockGuest: StockGuestProbe = kvmRunsStockGuest): Promise<AutoAccel> {
  const quick = probeAutoAccel(env);
  if (quick.kvm !== 'working') return quick;
  const real = await stockGuest();
  if (real.ok) return { accel: 'kvm', kvm: 'working', reason: `/dev/kvm is usable and runs a stock guest (${real.detail})` };
  return { accel: 'tcg', kvm: 'unusable', reason: `/dev/kvm exists but a stock guest (SeaBIOS) dies under it: ${real.detail}; tcg only` };
}

let cached: Promise<AutoAccel> | undefined;

/** probeHostKvm of this host, once per process (the SeaBIOS run costs seconds). */
export function hostKvm(): Promise<AutoAccel> {
  cached ??= probeHostKvm();
  return cached;
}
