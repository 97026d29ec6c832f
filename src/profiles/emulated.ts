import { headlessVideo, type DeviceProfile } from './types.js';

/** Hardware emulation on a modern chipset: the guest runs unmodified drivers for real hardware. */
export const emulated: DeviceProfile = {
  name: 'emulated',
  family: 'emulated',
  summary: 'hardware emulation: q35 chipset, SATA (AHCI) disk, Intel e1000 NIC, no video card; no paravirtual device at all',
  machine: { value: 'q35', why: 'Intel Q35/ICH9 chipset: the same board as the paravirtual model, so only the devices differ' },
  diskBus: { value: 'sata', why: 'SATA (AHCI) disk: the guest drives emulated controller registers, every I/O traps into QEMU, slow' },
  seed: { value: { bus: 'sata', device: 'cdrom' }, why: 'cloud-init seed on an emulated SATA CD-ROM, as a real PC would read a disc' },
  nic: { value: { model: 'e1000', vhost: false }, why: 'Intel e1000 NIC: a real card the guest already has a driver for; each packet costs emulated register accesses' },
  video: headlessVideo,
  memballoon: { value: { model: 'none', freePageReporting: false }, why: 'no balloon: a real PC cannot hand memory back to a hypervisor' },
  rng: { value: false, why: 'no paravirtual RNG: the guest gathers entropy itself, as on bare metal' },
  iothread: { value: false, why: 'no I/O thread: an emulated AHCI controller is served by the main loop, as its register traps are' },
  agent: { value: 'isa-serial', why: 'guest agent on an emulated 16550 serial port (ttyS1): control without any paravirtual device' },
  controllers: { value: [{ type: 'usb', model: 'none' }], why: 'no USB controller: lab guests are headless, fewer emulated devices' },
  unsupportedBuses: ['ide'],
};
