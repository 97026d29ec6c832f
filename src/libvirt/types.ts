/** The port vmlab's orchestration uses; implemented over libvirt-dbus, and by a fake in tests. */
export type DomainState = 'nostate' | 'running' | 'blocked' | 'paused' | 'shutdown' | 'shutoff' | 'crashed' | 'pmsuspended';

export const DOMAIN_STATES: DomainState[] = ['nostate', 'running', 'blocked', 'paused', 'shutdown', 'shutoff', 'crashed', 'pmsuspended'];

/** libvirt's virDomainEventType, in order. */
export const DOMAIN_EVENTS = ['defined', 'undefined', 'started', 'suspended', 'resumed', 'stopped', 'shutdown', 'pmsuspended', 'crashed'] as const;
export type DomainEventType = (typeof DOMAIN_EVENTS)[number];

/**
 * virDomainPausedReason VIR_DOMAIN_PAUSED_STARTING_UP: libvirt starts QEMU
 * paused and resumes it when set up, so a domain being started (by another
 * client, or an `up` that was killed) is briefly "paused" for this reason.
 */
export const PAUSED_STARTING_UP = 11;

export function isStartingUp(d: Pick<DomainInfo, 'state' | 'reason'>): boolean {
  return d.state === 'paused' && d.reason === PAUSED_STARTING_UP;
}

export interface DomainInfo {
  name: string;
  active: boolean;
  state: DomainState;
  /** libvirt's reason code for the state (e.g. why it is paused). */
  reason: number;
}

export interface NetworkInfo {
  name: string;
  active: boolean;
}

export interface DomainEvent {
  domain: string;
  event: DomainEventType | 'unknown';
  detail: number;
}

/** An internal snapshot of a domain (libvirt's domainsnapshot). */
export interface SnapshotInfo {
  name: string;
  /** Unix seconds. */
  createdAt: number;
  /** The domain's state when it was taken: running snapshots hold memory too. */
  state: string;
  memory: boolean;
  description?: string;
  /** A container's snapshot: its file system only (container/snapshots.ts); a revert restarts it. */
  containerFiles?: boolean;
}

export interface Hypervisor {
  readonly uri: string;
  version(): Promise<{ libvirt: string; hypervisor: string }>;
  listDomains(): Promise<DomainInfo[]>;
  domain(name: string): Promise<DomainInfo | undefined>;
  defineDomain(xml: string): Promise<void>;
  startDomain(name: string): Promise<void>;
  destroyDomain(name: string): Promise<void>;
  /** Asks the guest to power off (ACPI); returns at once, the domain stops when the guest is done. */
  shutdownDomain(name: string): Promise<void>;
  undefineDomain(name: string): Promise<void>;
  domainXml(name: string, inactive?: boolean): Promise<string>;
  listNetworks(): Promise<NetworkInfo[]>;
  network(name: string): Promise<NetworkInfo | undefined>;
  defineNetwork(xml: string): Promise<void>;
  startNetwork(name: string): Promise<void>;
  destroyNetwork(name: string): Promise<void>;
  undefineNetwork(name: string): Promise<void>;
  networkXml(name: string): Promise<string>;
  listSnapshots(domain: string): Promise<SnapshotInfo[]>;
  /** Internal snapshot (disks and, of a running domain, memory), taken atomically. */
  createSnapshot(domain: string, name: string, description: string): Promise<void>;
  /** Back to the snapshot; a running snapshot resumes running, with its memory. */
  revertSnapshot(domain: string, name: string): Promise<void>;
  deleteSnapshot(domain: string, name: string): Promise<void>;
  /**
   * Back to a snapshot with memory inside the running QEMU (its own `loadvm`):
   * no new process, so no new taps, cgroups or device set-up. For a running
   * domain and a snapshot of it running, taken with its current definition.
   */
  loadSnapshotLive(domain: string, name: string): Promise<void>;
  /** Starts a defined domain with its CPUs stopped (QEMU runs, the guest does not): to load a snapshot into it first (lab-ops/fork.ts). */
  startDomainPaused(name: string): Promise<void>;
  /** Stops a running domain's CPUs; QEMU flushes its disks first, so their files are consistent until the resume. */
  suspendDomain(name: string): Promise<void>;
  resumeDomain(name: string): Promise<void>;
  /** libvirt's XML of one snapshot of a domain (its state, creation time and the definitions it holds). */
  snapshotXml(domain: string, name: string): Promise<string>;
  /**
   * Tells libvirt of a snapshot that already is in the domain's disks (a fork's copied qcow2):
   * its metadata only (VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE); nothing in the disks changes.
   */
  redefineSnapshot(domain: string, xml: string): Promise<void>;
  /** Changes one device (virDomainUpdateDeviceFlags): of the running domain, its persistent definition, or both. */
  updateDevice(domain: string, xml: string, scope: { live?: boolean; config?: boolean }): Promise<void>;
  /**
   * Saves a running domain's memory to disk and stops it (libvirt's managed save): its host memory
   * is freed, and the next start resumes it from there instead of booting.
   */
  managedSave(name: string): Promise<void>;
  /** Whether a stopped domain has a managed save to resume from. */
  hasManagedSave(name: string): Promise<boolean>;
  /** Lifecycle events of all domains; returns an unsubscribe function. */
  onDomainEvent(listener: (e: DomainEvent) => void): () => void;
  close(): void;
}
