import { dirname, resolve } from 'node:path';
import { deviceProfiles } from '../profiles/index.js';
import { contains, formatCidr, formatIpv4, parseIpv4 } from '../util/ipv4.js';
import type { Checker } from './checker.js';
import { IMAGE_NAME } from './fields.js';
import type { NetworkModel, NicSpec } from './model.js';
import type { RawVm } from './raw.js';
import type { PathSeg } from './source.js';

/**
 * How a VM boots and whether vmlab provisions it: the guests vmlab builds
 * (its image, a cloud-init seed, the QEMU guest agent) or an unmodified OS
 * (install media, an image without cloud-init) that vmlab only starts,
 * watches on its serial console and snapshots.
 */
export interface BootSpec {
  boot: 'disk' | 'cdrom';
  /** Install media, attached read-only: an absolute path (a relative one is resolved from the lab file's folder). */
  cdrom?: string;
  /** Or install media imported into the image cache (vmlab image import FILE.iso --name NAME). */
  cdromImage?: string;
  provision: 'cloud-init' | 'none';
  /** Ready when the serial console prints a match (provision: none). */
  consoleReady?: string;
  /** Ready when this TCP port answers (provision: none); the address is the NIC's unless given. */
  tcpReady?: { port: number; address?: number };
}

/** Where the host connects to say a guest vmlab does not provision is ready: an address on a bridge the host has an address on. */
export interface TcpReady {
  address: number;
  port: number;
  network: string;
}

export function parseBoot(c: Checker, segs: PathSeg[], o: RawVm, labFile: string, defaultProfile: string): BootSpec {
  const boot = (o.boot as BootSpec['boot'] | undefined) ?? 'disk';
  const provision = (o.provision as BootSpec['provision'] | undefined) ?? 'cloud-init';
  // A path has a "/" or ends in .iso; anything else names imported media.
  const isPath = o.cdrom !== undefined && (o.cdrom.includes('/') || /\.iso$/i.test(o.cdrom));
  const cdrom = o.cdrom !== undefined && isPath ? resolve(dirname(labFile), o.cdrom) : undefined;
  const cdromImage = o.cdrom !== undefined && !isPath ? o.cdrom : undefined;
  if (cdromImage !== undefined && !IMAGE_NAME.test(cdromImage)) {
    c.fail([...segs, 'cdrom'], 'is neither a path to an ISO (with a "/" or ending in .iso) nor an image name', {
      value: cdromImage,
      hint: 'e.g. isos/install.iso, or the name given to vmlab image import',
    });
  }
  const profile = deviceProfiles[(o.profile as string | undefined) ?? defaultProfile];
  if (o.cdrom !== undefined && profile && profile.seed.value.device !== 'cdrom') {
    c.fail([...segs, 'cdrom'], `profile ${profile.name} has no CD-ROM: its read-only media are ${profile.seed.value.bus} disks, and a BIOS boots install media only from a CD-ROM`, {
      hint: `use a profile with one: ${Object.values(deviceProfiles)
        .filter((p) => p.seed.value.device === 'cdrom')
        .map((p) => p.name)
        .join(', ')}`,
    });
  }
  if (boot === 'cdrom' && o.cdrom === undefined) c.fail([...segs, 'boot'], 'boot: cdrom needs cdrom: (the install media)', { hint: 'cdrom: isos/install.iso (relative to the lab file)' });
  const agentless = isAgentlessReady(o.ready);
  const ready = o.ready as Record<string, unknown>;
  const { consoleReady, tcpReady } = agentless ? parseAgentlessReady(c, [...segs, 'ready'], ready) : {};
  if (provision === 'none') {
    const agentOnly: Array<[keyof RawVm, string]> = [
      ['cloud-init', 'cloud-init needs a seed, which a guest with provision: none does not get'],
      ['services', 'services are configured through cloud-init and probed through the guest agent, which a guest with provision: none does not have'],
    ];
    for (const [k, why] of agentOnly)
      if (o[k] !== undefined && o[k] !== null) c.fail([...segs, k], why, { atKey: true, hint: 'remove it, or use provision: cloud-init with an image that has cloud-init' });
    if (o.ready !== undefined && !agentless) {
      c.fail([...segs, 'ready'], 'probes run through the guest agent, which a guest with provision: none does not have', {
        hint: 'ready: { console: "login:" } waits for the serial console instead, ready: { tcp: 22 } for a port to answer',
      });
    }
  } else if (agentless) {
    c.fail([...segs, 'ready', ready.console !== undefined ? 'console' : 'tcp'], 'a console pattern or a TCP port is for guests vmlab does not provision', {
      hint: 'add provision: none, or use command probes (run:), which run through the guest agent',
    });
  } else if (boot === 'cdrom' && o.image === undefined) {
    c.fail([...segs, 'boot'], 'a guest booted from install media is not provisioned by cloud-init', { hint: 'add provision: none (or give it an image: to clone)' });
  }
  return {
    boot,
    provision,
    ...(cdrom ? { cdrom } : {}),
    ...(cdromImage ? { cdromImage } : {}),
    ...(consoleReady !== undefined ? { consoleReady } : {}),
    ...(tcpReady ? { tcpReady } : {}),
  };
}

/** Is `ready:` what the host itself can see (the console, a port), not command probes (run:) through the agent? */
export function isAgentlessReady(v: unknown): boolean {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return o.run === undefined && ['console', 'tcp', 'address'].some((k) => o[k] !== undefined);
}

/** `ready: { console: REGEX, tcp: PORT, address: IP }`: at least one of console and tcp; address only with tcp. */
function parseAgentlessReady(c: Checker, segs: PathSeg[], ready: Record<string, unknown>): Pick<BootSpec, 'consoleReady' | 'tcpReady'> {
  const o = c.object(segs, ready, { optional: ['console', 'tcp', 'address'] });
  if (!o) return {};
  let consoleReady: string | undefined;
  if (o.console !== undefined) {
    consoleReady = c.string([...segs, 'console'], o.console, { what: 'a regular expression' });
    try {
      if (consoleReady !== undefined) new RegExp(consoleReady);
    } catch (e) {
      c.fail([...segs, 'console'], `is not a regular expression: ${(e as Error).message}`, { value: consoleReady });
    }
  }
  let tcpReady: BootSpec['tcpReady'];
  if (o.tcp !== undefined) {
    const port = c.int([...segs, 'tcp'], o.tcp, 1, 65535);
    const text = o.address === undefined ? undefined : c.string([...segs, 'address'], o.address, { what: 'an IPv4 address' });
    const address = text === undefined ? undefined : parseIpv4(text);
    if (text !== undefined && address === undefined) c.fail([...segs, 'address'], 'is not an IPv4 address', { value: text, hint: 'write four numbers 0-255, e.g. 10.0.1.30' });
    if (port !== undefined) tcpReady = { port, ...(address !== undefined ? { address } : {}) };
  } else if (o.address !== undefined) {
    c.fail([...segs, 'address'], 'is the address to connect to for tcp:, which is missing', { atKey: true, hint: 'add tcp: PORT, or remove address:' });
  }
  return { ...(consoleReady !== undefined ? { consoleReady } : {}), ...(tcpReady ? { tcpReady } : {}) };
}

/**
 * The address and port of `ready: { tcp: PORT }`: the guest's own address
 * (its NIC's ip:, which the guest sets itself; or ready.address) on a network
 * where the host has an address of its own (host-address:), so the host can
 * connect — isolated bridges route nowhere else.
 */
export function resolveTcpReady(c: Checker, segs: PathSeg[], boot: BootSpec, nics: NicSpec[], networks: Map<string, NetworkModel>): TcpReady | undefined {
  const want = boot.tcpReady;
  if (!want) return undefined;
  const s = [...segs, 'ready', want.address !== undefined ? 'address' : 'tcp'];
  const reachable = nics.map((n) => ({ nic: n, net: networks.get(n.network) })).filter((x) => x.net?.subnet && x.net.hostAddress !== undefined);
  if (!reachable.length) {
    const first = nics.map((n) => networks.get(n.network)).find((n) => n?.subnet);
    c.fail(s, 'the host has no address on any network of this VM, so it cannot connect to the port', {
      hint: first ? `give network "${first.name}" one: host-address: ${formatIpv4(first.subnet!.address + 1)}` : 'attach the VM to a network with a subnet and a host-address',
    });
    return undefined;
  }
  if (want.address !== undefined) {
    const on = reachable.find((x) => contains(x.net!.subnet!, want.address!));
    if (!on) {
      c.fail(s, `is on none of this VM's networks the host has an address on (${reachable.map((x) => `${x.net!.name} ${formatCidr(x.net!.subnet!)}`).join(', ')})`, {
        value: formatIpv4(want.address),
      });
      return undefined;
    }
    if (want.address === on.net!.hostAddress) {
      c.fail(s, `is the host's own address on network "${on.net!.name}", not the guest's`, { value: formatIpv4(want.address) });
      return undefined;
    }
    return { address: want.address, port: want.port, network: on.net!.name };
  }
  const own = reachable.find((x) => x.nic.address.kind === 'static');
  if (!own || own.nic.address.kind !== 'static') {
    c.fail(s, `vmlab does not know the guest's address on network "${reachable[0]!.net!.name}": it does not provision this guest`, {
      hint: `write the address the guest sets itself on the NIC (ip: ${formatIpv4(reachable[0]!.net!.subnet!.address + 10)}/${reachable[0]!.net!.subnet!.prefix}), or ready.address`,
    });
    return undefined;
  }
  return { address: own.nic.address.cidr.address, port: want.port, network: own.net!.name };
}
