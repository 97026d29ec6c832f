import type { DeviceProfile } from './types.js';
import { emulated } from './emulated.js';
import { emulatedPc } from './emulated-pc.js';
import { virtio } from './virtio.js';
import { virtioScsi } from './virtio-scsi.js';

export * from './types.js';
export { accelProfiles } from './accel.js';

/** Every device model vmlab knows. Adding one is one new file plus one line here. */
export const deviceProfiles: Readonly<Record<string, DeviceProfile>> = Object.freeze({
  [emulated.name]: emulated,
  [emulatedPc.name]: emulatedPc,
  [virtio.name]: virtio,
  [virtioScsi.name]: virtioScsi,
});

export const profileNames = Object.keys(deviceProfiles);
export const accelNames = ['kvm', 'tcg', 'auto'] as const;
