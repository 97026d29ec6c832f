import { VmlabError } from '../errors.js';
import { labPrefix } from '../lab/names.js';
import { parseDomainXml } from './metadata.js';
import type { LabRuntime } from './runtime.js';

/**
 * A lab VM's disk as an image of its own (`vmlab image capture`): a teacher
 * installs an OS once, and the class boots linked clones of it. The VM is
 * shut down first (the guest is asked; `force` powers it off), its system
 * disk — the image's clone, or the disk an installer wrote to — is flattened
 * into a new image version, with where it came from.
 */
export interface CaptureRequest {
  lab: string;
  vm: string;
  name: string;
  /** Power the VM off instead of asking the guest to shut down. */
  force?: boolean;
  /** How long the guest may take to power off (default 180 s). */
  timeoutMs?: number;
  /** Converts the disk (through its backing chain) into image `name` (host/image-import.ts publishConverted). */
  publish(disk: string, format: string, name: string, origin: string): Promise<{ name: string; version: string; file: string }>;
  onStep?(what: string): void;
}

export async function captureVmImage(rt: LabRuntime, req: CaptureRequest): Promise<{ image: { name: string; version: string; file: string }; disk: string; shutdown: 'asked' | 'forced' | 'was off' }> {
  const h = rt.hypervisor;
  const found: Array<{ domain: string; vm: string }> = [];
  for (const d of await h.listDomains()) {
    if (!d.name.startsWith(labPrefix(req.lab))) continue;
    const meta = (await parseDomainXml(await h.domainXml(d.name, true))).meta;
    if (meta?.lab === req.lab) found.push({ domain: d.name, vm: meta.vm });
  }
  if (!found.length) throw new VmlabError('ERR_VMLAB_LAB_DOWN', `lab "${req.lab}" has no VMs in libvirt`, { kind: 'user', hint: 'vmlab up LAB first' });
  const target = found.find((f) => f.vm === req.vm);
  if (!target) throw new VmlabError('ERR_VMLAB_VM_UNKNOWN', `lab "${req.lab}" has no VM "${req.vm}"`, { kind: 'user', hint: `its VMs: ${found.map((f) => f.vm).join(', ')}` });
  const parsed = await parseDomainXml(await h.domainXml(target.domain, true));
  const disk = parsed.disks.find((d) => d.device === 'disk' && !d.readonly);
  if (!disk) throw new VmlabError('ERR_VMLAB_CAPTURE_NO_DISK', `${req.vm} has no writable disk to capture`, { kind: 'user' });
  let shutdown: 'asked' | 'forced' | 'was off' = 'was off';
  const info = await h.domain(target.domain);
  if (info?.active) {
    if (req.force) {
      req.onStep?.(`powering ${req.vm} off`);
      await h.destroyDomain(target.domain);
      shutdown = 'forced';
    } else {
      req.onStep?.(`asking ${req.vm} to shut down`);
      await h.shutdownDomain(target.domain);
      const deadline = Date.now() + (req.timeoutMs ?? 180_000);
      while ((await h.domain(target.domain))?.active) {
        if (Date.now() > deadline) {
          throw new VmlabError(
            'ERR_VMLAB_SHUTDOWN_TIMEOUT',
            `${req.vm} did not power off within ${Math.round((req.timeoutMs ?? 180_000) / 1000)} s (does its OS handle ACPI power-off?); nothing was captured`,
            {
              hint: 'shut it down from its console, or power it off: vmlab image capture --force',
            },
          );
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      shutdown = 'asked';
    }
  }
  req.onStep?.(`flattening ${disk.file} into image ${req.name}`);
  const image = await req.publish(disk.file, disk.format, req.name, `captured from lab ${req.lab}, VM ${req.vm} (${parsed.meta?.profile ?? '?'} profile), disk ${disk.dev}`);
  return { image, disk: disk.file, shutdown };
}
