import type { DeviceProfile } from './types.js';
import { emulated } from './emulated.js';
import { emulatedPc } from './emulated-pc.js';
import { virtio } from './virtio.js';
import { virtioScsi } from './virtio-scsi.js';
import { containerProfile, type ContainerProfile } from './container.js';

export * from './types.js';
export { accelProfiles, CLOCKS_RESTORED_BY_SNAPSHOT } from './accel.js';
export { containerProfile, nativeRun, type ContainerProfile } from './container.js';

/** Every device model vmlab knows. Adding one is one new file plus one line here. */
export const deviceProfiles: Readonly<Record<string, DeviceProfile>> = Object.freeze({
  [emulated.name]: emulated,
  [emulatedPc.name]: emulatedPc,
  [virtio.name]: virtio,
  [virtioScsi.name]: virtioScsi,
});

export const profileNames = Object.keys(deviceProfiles);
export const accelNames = ['kvm', 'tcg', 'auto'] as const;

/**
 * What a guest that cannot find its root disk on this device model most
 * likely lacks: on a paravirtual model, the drivers of a ported OS.
 */
export function rootDiskMissing(profile: DeviceProfile): string {
  return profile.family === 'paravirtual'
    ? `this guest's OS has no virtio drivers: paravirtualization needs a ported OS; use profile emulated (its ${profile.diskBus.value} disk is invisible to an OS without them)`
    : `the guest's OS found no root disk on the ${profile.diskBus.value} bus: it has no driver for this device model's disk controller`;
}

/** A device model by name, or the container "profile" (a guest with kind: container). */
export function anyProfile(name: string): DeviceProfile | ContainerProfile | undefined {
  return name === containerProfile.name ? containerProfile : deviceProfiles[name];
}
