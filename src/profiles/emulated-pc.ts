import { headlessVideo, type DeviceProfile } from './types.js';

/** Hardware emulation of an old PC: i440FX board, IDE disk, Realtek NIC. The oldest, slowest model. */
export const emulatedPc: DeviceProfile = {
  name: 'emulated-pc',
  family: 'emulated',
  summary: 'hardware emulation of a 1996 PC: i440FX chipset, IDE disk, Realtek rtl8139 NIC, no video card; no paravirtual device at all',
  machine: { value: 'pc', why: 'Intel i440FX/PIIX chipset: the classic emulated PC board' },
  diskBus: { value: 'ide', why: 'IDE disk: programmed I/O through emulated ports, one request at a time, the slowest disk' },
  seed: { value: { bus: 'ide', device: 'cdrom' }, why: 'cloud-init seed on an emulated IDE CD-ROM' },
  nic: { value: { model: 'rtl8139', vhost: false }, why: 'Realtek rtl8139 NIC: a 100 Mbit/s card, every packet copied through emulated registers' },
  video: headlessVideo,
  memballoon: { value: { model: 'none', freePageReporting: false }, why: 'no balloon: a real PC cannot hand memory back to a hypervisor' },
  rng: { value: false, why: 'no paravirtual RNG: the guest gathers entropy itself' },
  iothread: { value: false, why: 'no I/O thread: the emulated IDE controller is served by the main loop' },
  agent: { value: 'isa-serial', why: 'guest agent on an emulated serial port (ttyS1): control without any paravirtual device' },
  controllers: { value: [{ type: 'usb', model: 'none' }], why: 'no USB controller: lab guests are headless' },
  unsupportedBuses: [],
};
