import { accessSync, constants, existsSync } from 'node:fs';
import type { AutoAccel } from '../plan/plan.js';

/**
 * Decides what `accel: auto` means on this host, and says why.
 * KVM is chosen only when /dev/kvm is usable and nothing is known to stop a
 * stock guest from running on it. PVM-nested KVM (kvm_pvm loaded) runs only
 * PVM-aware guest kernels: SeaBIOS/OVMF guests die with "emulation failure".
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

export function probeAutoAccel(env: AccelProbeEnv = realEnv): AutoAccel {
  if (!env.exists('/dev/kvm')) return { accel: 'tcg', reason: '/dev/kvm does not exist (no KVM on this host): tcg only' };
  if (!env.readWrite('/dev/kvm')) return { accel: 'tcg', reason: '/dev/kvm is not readable and writable by this user: tcg only' };
  if (env.exists('/sys/module/kvm_pvm')) {
    return { accel: 'tcg', reason: 'KVM here is nested through PVM (kvm_pvm loaded): stock guests stop with "emulation failure", tcg only' };
  }
  return { accel: 'kvm', reason: '/dev/kvm is usable' };
}
