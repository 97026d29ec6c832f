/**
 * A lab file as written, once its structure has passed the published schema
 * (schema.ts, checked by structure.ts): keys are known, types are right,
 * patterns and ranges hold. Values under the schema's anyOf/oneOf (services,
 * commands, readiness probes) are still `unknown`: their checks say which
 * alternative was meant.
 */
export interface RawLab {
  name: string;
  description?: string;
  domain?: string;
  defaults?: RawDefaults | null;
  networks?: Record<string, RawNetwork | null> | null;
  vms: Record<string, RawVm | null>;
}

export interface RawDefaults {
  image?: string;
  memory?: string;
  vcpus?: number;
  profile?: string;
  accel?: string;
}

export interface RawNetwork {
  description?: string;
  mode?: string;
  bridge?: string;
  subnet?: string;
  'host-address'?: string;
  dhcp?: { start: string; end: string };
  mtu?: number;
}

export interface RawVm extends RawDefaults {
  kind?: string;
  description?: string;
  count?: number;
  disks?: RawDisk[] | null;
  nics?: RawNic[] | null;
  'cloud-init'?: RawCloudInit | null;
  services?: unknown[] | null;
  ready?: unknown;
  boot?: string;
  cdrom?: string;
  provision?: string;
}

export interface RawDisk {
  size: string;
  bus?: string;
  format?: string;
}

export interface RawNic {
  network: string;
  ip?: string;
  gateway?: string;
  dns?: string[] | null;
  mac?: string;
  model?: string;
  name?: string;
  link?: RawLink | null;
}

export interface RawLink {
  delay?: string;
  jitter?: string;
  loss?: string;
  rate?: string;
  state?: string;
}

export interface RawCloudInit {
  users?: RawUser[] | null;
  packages?: string[] | null;
  write_files?: Array<{ path: string; content: string; permissions?: string; owner?: string }> | null;
  runcmd?: unknown[] | null;
  bootcmd?: unknown[] | null;
}

export interface RawUser {
  name: string;
  ssh_authorized_keys?: string[] | null;
  hashed_passwd?: string;
  sudo?: boolean;
  groups?: string[] | null;
  shell?: string;
}
