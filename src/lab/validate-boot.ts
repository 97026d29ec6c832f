import { dirname, resolve } from 'node:path';
import { deviceProfiles } from '../profiles/index.js';
import type { Checker } from './checker.js';
import { IMAGE_NAME } from './fields.js';
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
  const ready = o.ready as { console?: unknown } | undefined;
  const consoleReady = ready && typeof ready === 'object' && !Array.isArray(ready) && typeof ready.console === 'string' ? ready.console : undefined;
  if (provision === 'none') {
    const agentOnly: Array<[keyof RawVm, string]> = [
      ['cloud-init', 'cloud-init needs a seed, which a guest with provision: none does not get'],
      ['services', 'services are configured through cloud-init and probed through the guest agent, which a guest with provision: none does not have'],
    ];
    for (const [k, why] of agentOnly)
      if (o[k] !== undefined && o[k] !== null) c.fail([...segs, k], why, { atKey: true, hint: 'remove it, or use provision: cloud-init with an image that has cloud-init' });
    if (o.ready !== undefined && consoleReady === undefined) {
      c.fail([...segs, 'ready'], 'probes run through the guest agent, which a guest with provision: none does not have', { hint: 'ready: { console: "login:" } waits for the serial console instead' });
    }
  } else if (consoleReady !== undefined) {
    c.fail([...segs, 'ready', 'console'], 'a console pattern is for guests vmlab does not provision', { hint: 'add provision: none, or use command probes (run:)' });
  } else if (boot === 'cdrom' && o.image === undefined) {
    c.fail([...segs, 'boot'], 'a guest booted from install media is not provisioned by cloud-init', { hint: 'add provision: none (or give it an image: to clone)' });
  }
  if (consoleReady !== undefined) {
    try {
      new RegExp(consoleReady);
    } catch (e) {
      c.fail([...segs, 'ready', 'console'], `is not a regular expression: ${(e as Error).message}`, { value: consoleReady });
    }
  }
  return { boot, provision, ...(cdrom ? { cdrom } : {}), ...(cdromImage ? { cdromImage } : {}), ...(consoleReady !== undefined ? { consoleReady } : {}) };
}
