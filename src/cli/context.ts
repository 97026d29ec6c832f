import { existsSync } from 'node:fs';
import { probeAutoAccel } from '../host/accel-probe.js';
import { ImageStore } from '../host/image-store.js';
import { loadCatalog } from '../images/catalog.js';
import { recipeNames } from '../images/recipe.js';
import { loadLab } from '../lab/load.js';
import type { LabModel } from '../lab/model.js';
import { DbusHypervisor, defaultUri } from '../libvirt/dbus-hypervisor.js';
import { createRuntime, type LabRuntime } from '../lab-ops/runtime.js';
import { defaultHostPaths, type HostPaths } from '../paths.js';
import { planLab, type AutoAccel, type Plan } from '../plan/plan.js';
import { join } from 'node:path';

export interface GlobalOpts {
  connect?: string;
  dataDir?: string;
}

export function hostPaths(g: GlobalOpts): HostPaths {
  const p = defaultHostPaths();
  return g.dataDir ? { ...p, dataDir: g.dataDir } : p;
}

/** Image names a lab may use here: built or imported ones, recipes, catalog entries. */
export function knownImages(paths: HostPaths): string[] {
  const store = new ImageStore(join(paths.dataDir, 'images'));
  return [...new Set([...store.names(), ...recipeNames(), ...loadCatalog().map((c) => c.name)])];
}

export function loadLabForHost(file: string, paths: HostPaths): LabModel {
  return loadLab(file, { knownImages: knownImages(paths) });
}

export function planForHost(lab: LabModel, paths: HostPaths, auto: AutoAccel = probeAutoAccel()): Plan {
  return planLab(lab, { paths, autoAccel: auto, host: { vhostNet: existsSync('/dev/vhost-net') } });
}

export async function openRuntime(g: GlobalOpts): Promise<LabRuntime> {
  const h = await DbusHypervisor.open(defaultUri(g.connect));
  return createRuntime(h, hostPaths(g));
}

/** Opens libvirt for the length of `f` and always closes the connection. */
export async function withRuntime<T>(g: GlobalOpts, f: (rt: LabRuntime) => Promise<T>): Promise<T> {
  const rt = await openRuntime(g);
  try {
    return await f(rt);
  } finally {
    rt.hypervisor.close();
  }
}

/** `LAB` arguments may be a lab file or a lab name (down/status work without the file). */
export function labArg(arg: string, paths: HostPaths): { name: string; model?: LabModel } {
  if (existsSync(arg) || arg.endsWith('.yaml') || arg.endsWith('.yml')) {
    const model = loadLabForHost(arg, paths);
    return { name: model.name, model };
  }
  return { name: arg };
}
