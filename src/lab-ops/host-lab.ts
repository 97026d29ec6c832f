import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { VmlabError } from '../errors.js';
import { probeAutoAccel } from '../host/accel-probe.js';
import { ImageStore } from '../host/image-store.js';
import { loadCatalog } from '../images/catalog.js';
import { recipeNames } from '../images/recipe.js';
import { loadLab } from '../lab/load.js';
import type { LabModel } from '../lab/model.js';
import { DbusHypervisor, defaultUri } from '../libvirt/dbus-hypervisor.js';
import type { HostPaths } from '../paths.js';
import { planLab, type AutoAccel, type Plan, type PlanOptions } from '../plan/plan.js';
import { createRuntime, type LabRuntime } from './runtime.js';

/**
 * A lab as this host runs it: the images it may name, the accelerator `auto`
 * becomes here, vhost-net, and libvirt. Shared by every front end (CLI, web)
 * and by the benchmarks, so none of them builds these facts its own way.
 */

/** Image names a lab may use here: built or imported ones, recipes, catalog entries. */
export function knownImages(paths: HostPaths): string[] {
  const store = new ImageStore(join(paths.dataDir, 'images'));
  return [...new Set([...store.names(), ...recipeNames(), ...loadCatalog().map((c) => c.name)])];
}

export function loadLabForHost(file: string, paths: HostPaths): LabModel {
  return loadLab(file, { knownImages: knownImages(paths) });
}

const DISK_CACHES = ['unsafe', 'writeback', 'none'] as const;

/**
 * The host's choice of lab disk cache (VMLAB_DISK_CACHE): unsafe by default (fast snapshots;
 * a host crash can lose the last writes), writeback for a host whose labs must survive a power cut.
 */
export function hostDiskCache(env: NodeJS.ProcessEnv = process.env): PlanOptions['diskCache'] {
  const v = env.VMLAB_DISK_CACHE;
  if (v === undefined || v === '') return undefined;
  if (!(DISK_CACHES as readonly string[]).includes(v)) {
    throw new VmlabError('ERR_VMLAB_DISK_CACHE', `VMLAB_DISK_CACHE=${v} is not a disk cache mode vmlab uses`, { kind: 'user', hint: `one of ${DISK_CACHES.join(', ')} (unset: unsafe)` });
  }
  return v as PlanOptions['diskCache'];
}

export function planForHost(lab: LabModel, paths: HostPaths, auto: AutoAccel = probeAutoAccel(), tuning: Pick<PlanOptions, 'diskCache' | 'diskIo'> & { vhostNet?: boolean } = {}): Plan {
  const { vhostNet = true, ...given } = tuning;
  const cache = given.diskCache ?? hostDiskCache();
  const disk = { ...given, ...(cache ? { diskCache: cache } : {}) };
  return planLab(lab, { paths, autoAccel: auto, host: { vhostNet: vhostNet && existsSync('/dev/vhost-net') }, imageFiles: resolvedImages(lab, paths), mediaFiles: resolvedMedia(lab, paths), ...disk });
}

/** The image versions a lab's clones are made from now; an image that is missing is left out (up's preflight names it). */
function resolvedImages(lab: LabModel, paths: HostPaths): Record<string, string> {
  const store = new ImageStore(join(paths.dataDir, 'images'));
  const out: Record<string, string> = {};
  for (const name of new Set(lab.vms.flatMap((v) => (v.image ? [v.image] : [])))) {
    try {
      out[name] = store.resolve(name);
    } catch {
      /* reported by up */
    }
  }
  return out;
}

/** Imported install media a lab names (cdrom: NAME) → its current file; missing media are left out (up's preflight names them). */
function resolvedMedia(lab: LabModel, paths: HostPaths): Record<string, string> {
  const store = new ImageStore(join(paths.dataDir, 'images'));
  const out: Record<string, string> = {};
  for (const name of new Set(lab.vms.flatMap((v) => (v.boot.cdromImage ? [v.boot.cdromImage] : [])))) {
    try {
      out[name] = store.resolveMedia(name);
    } catch {
      /* reported by up */
    }
  }
  return out;
}

/** libvirt (over libvirt-dbus) and the host's paths: what lab operations run on. */
export async function openRuntime(paths: HostPaths, uri?: string): Promise<LabRuntime> {
  const h = await DbusHypervisor.open(defaultUri(uri));
  return createRuntime(h, paths);
}
