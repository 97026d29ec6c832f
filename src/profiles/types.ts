/**
 * A device model is data: what virtual hardware the guest sees. Templates read
 * these tables; nothing in the templates says `if virtio`.
 * Every choice carries one line of "why", in the words of the course; the line
 * is rendered as an XML comment next to the device it explains.
 */
export const DISK_BUSES = ['ide', 'sata', 'virtio', 'scsi'] as const;
export type DiskBus = (typeof DISK_BUSES)[number];
export const NIC_MODELS = ['e1000', 'e1000e', 'rtl8139', 'virtio'] as const;
export type NicModel = (typeof NIC_MODELS)[number];
export type MachineType = 'pc' | 'q35';

export interface Choice<T> {
  value: T;
  why: string;
}

export interface DeviceProfile {
  name: string;
  /** One line shown by `vmlab validate`/`status` and in the domain XML. */
  summary: string;
  /** Family, for the course's comparison: emulation or paravirtualization. */
  family: 'emulated' | 'paravirtual';
  machine: Choice<MachineType>;
  diskBus: Choice<DiskBus>;
  /** Bus of the read-only cloud-init seed (a CD-ROM on emulated hardware). */
  seed: Choice<{ bus: DiskBus; device: 'cdrom' | 'disk' }>;
  nic: Choice<{ model: NicModel; vhost: boolean }>;
  video: Choice<'none' | 'vga' | 'cirrus' | 'virtio'>;
  /** The balloon device; with free page reporting the guest hands pages it frees back to the host by itself. */
  memballoon: Choice<{ model: 'none' | 'virtio'; freePageReporting: boolean }>;
  rng: Choice<boolean>;
  /** Disk I/O of virtio-blk disks handled in a dedicated QEMU I/O thread. */
  iothread: Choice<boolean>;
  /** How vmlab talks to the QEMU guest agent inside the guest. */
  agent: Choice<'virtio-serial' | 'isa-serial'>;
  /** Controllers to declare explicitly (e.g. virtio-scsi). */
  controllers: Choice<Array<{ type: string; model?: string }>>;
  /** Disk buses this machine type cannot provide (q35 has no IDE). */
  unsupportedBuses: DiskBus[];
}

/**
 * Every profile is headless: vmlab attaches no display (no <graphics>), the console is the
 * serial port. A video card would only cost boot time, which under TCG is measurable: the
 * BIOS runs its option ROM and the guest loads a DRM driver and draws every console line
 * into a framebuffer nobody sees.
 */
export const headlessVideo: Choice<'none'> = {
  value: 'none',
  why: 'no video card: no display is attached and the console is the serial port (a VGA only costs boot time)',
};

/**
 * Whether a writable disk on this bus passes the guest's discards on to its
 * file (discard='unmap'): blocks the guest frees then leave the qcow2 overlay.
 */
export const BUS_DISCARD: Readonly<Record<DiskBus, Choice<boolean>>> = {
  ide: { value: false, why: 'IDE (ATA-1 era) has no TRIM command: the guest cannot discard' },
  sata: { value: true, why: 'SATA disks take TRIM: blocks the guest frees leave the overlay' },
  virtio: { value: true, why: 'virtio-blk takes discard requests: blocks the guest frees leave the overlay' },
  scsi: { value: true, why: 'SCSI UNMAP: blocks the guest frees leave the overlay' },
};

export type Accel = 'kvm' | 'tcg';
export type AccelRequest = Accel | 'auto';

export interface AccelProfile {
  /** native: a container, whose processes the host's kernel runs (profiles/container.ts). */
  name: Accel | 'native';
  /** libvirt's domain type: kvm, qemu (TCG), or lxc for a container. */
  domainType: 'kvm' | 'qemu' | 'lxc';
  summary: string;
  cpu: Choice<{ mode: 'host-passthrough' | 'default' }>;
  /**
   * The clock the guest's kernel keeps time by: its own choice, or one vmlab
   * sets at every boot (cloud-init bootcmd) because the default one does not
   * go back with a snapshot loaded in the running QEMU.
   */
  clocksource: Choice<'guest default' | 'acpi_pm'>;
}
