import type { Accel, AccelProfile } from './types.js';

export const accelProfiles: Record<Accel, AccelProfile> = {
  kvm: {
    name: 'kvm',
    domainType: 'kvm',
    summary: 'KVM: guest code runs natively on the CPU, only privileged operations trap into the hypervisor',
    cpu: { value: { mode: 'host-passthrough' }, why: 'host-passthrough CPU: the guest sees the real CPU model and features, nothing is translated' },
  },
  tcg: {
    name: 'tcg',
    domainType: 'qemu',
    summary: 'TCG: every guest instruction is translated by QEMU (binary translation), the slowest full emulation',
    cpu: { value: { mode: 'default' }, why: "QEMU's default CPU model: TCG emulates the CPU itself, so a generic model is the safe choice" },
  },
};
