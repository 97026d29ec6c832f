import { dirname, resolve } from 'node:path';
import type { Checker } from './checker.js';
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
  provision: 'cloud-init' | 'none';
  /** Ready when the serial console prints a match (provision: none). */
  consoleReady?: string;
}

export function parseBoot(c: Checker, segs: PathSeg[], o: RawVm, labFile: string): BootSpec {
  const boot = (o.boot as BootSpec['boot'] | undefined) ?? 'disk';
  const provision = (o.provision as BootSpec['provision'] | undefined) ?? 'cloud-init';
  const cdrom = o.cdrom === undefined ? undefined : resolve(dirname(labFile), o.cdrom);
  if (boot === 'cdrom' && !cdrom) c.fail([...segs, 'boot'], 'boot: cdrom needs cdrom: (the install media)', { hint: 'cdrom: isos/install.iso (relative to the lab file)' });
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
  return { boot, provision, ...(cdrom ? { cdrom } : {}), ...(consoleReady !== undefined ? { consoleReady } : {}) };
}
