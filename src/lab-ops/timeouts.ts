import type { Plan } from '../plan/plan.js';

/**
 * How long vmlab waits for a guest, from what the host is, never from one machine's speed.
 * Under TCG every guest instruction is translated, and TCG's speed differs ~2.5× between our own
 * machines (one guest ready in 29 s on one, 73 s on another), more on a loaded host with several
 * guests per core: 600 s is generous on purpose, a guest that stops is reported at once anyway
 * (readiness.ts follows libvirt's lifecycle signals). Under KVM a guest is ready in seconds.
 */
export function readyTimeoutMs(accel: string): number {
  return accel === 'kvm' ? 180_000 : 600_000;
}

/** For a whole lab (its probes after a stage starts or a revert): the slowest of its guests. */
export function labReadyTimeoutMs(plan: Pick<Plan, 'vms'>): number {
  return Math.max(180_000, ...plan.vms.map((vm) => readyTimeoutMs(vm.accel.name)));
}
