import type { DeviceProfile } from './types.js';
import { virtio } from './virtio.js';

/** Paravirtualization with virtio-scsi instead of virtio-blk: one controller, many LUNs, SCSI commands. */
export const virtioScsi: DeviceProfile = {
  ...virtio,
  name: 'virtio-scsi',
  summary: 'paravirtualization with a virtio-scsi controller: like virtio, but disks are SCSI LUNs (sdX) on one paravirtual HBA',
  diskBus: { value: 'scsi', why: 'virtio-scsi: SCSI commands through a paravirtual HBA, scales to many disks, supports discard' },
  seed: { value: { bus: 'scsi', device: 'cdrom' }, why: 'cloud-init seed as a SCSI CD-ROM on the virtio-scsi controller' },
  controllers: {
    value: [
      { type: 'usb', model: 'none' },
      { type: 'scsi', model: 'virtio-scsi' },
    ],
    why: 'a virtio-scsi host adapter, no USB controller',
  },
};
