import { headlessVideo, type DeviceProfile } from './types.js';

/** Paravirtualization: the guest knows it is virtual and talks to the host through shared-memory queues. */
export const virtio: DeviceProfile = {
  name: 'virtio',
  family: 'paravirtual',
  summary: 'paravirtualization: q35 chipset, virtio-blk disk, virtio-net with vhost, virtio-rng, balloon, guest agent on virtio-serial',
  machine: { value: 'q35', why: 'Intel Q35/ICH9 chipset: the same board as the emulated model, so only the devices differ' },
  diskBus: { value: 'virtio', why: 'virtio-blk: requests batched in a shared ring, one notification per batch instead of register traps' },
  seed: { value: { bus: 'virtio', device: 'disk' }, why: 'cloud-init seed as a read-only virtio disk (label cidata)' },
  nic: { value: { model: 'virtio', vhost: true }, why: 'virtio-net with vhost-net: packets move through shared rings, handled in the host kernel, no QEMU copy' },
  video: headlessVideo,
  memballoon: {
    value: { model: 'virtio', freePageReporting: true },
    why: 'virtio balloon with free page reporting: the guest cooperates with the host and hands back the memory it frees',
  },
  rng: { value: true, why: 'virtio-rng: entropy handed in by the host, so boot never waits for randomness' },
  iothread: { value: true, why: 'an I/O thread of its own for virtio-blk: disk requests do not wait for the vCPU thread or the main loop' },
  agent: { value: 'virtio-serial', why: 'QEMU guest agent on a virtio-serial channel, the channel libvirt itself uses' },
  controllers: { value: [{ type: 'usb', model: 'none' }], why: 'no USB controller: lab guests are headless' },
  unsupportedBuses: ['ide'],
};
