import { existsSync } from 'node:fs';
import type { LabModel } from '../lab/model.js';
import { knownImages, loadLabForHost, openRuntime as openHostRuntime, planForHost } from '../lab-ops/host-lab.js';
import type { LabRuntime } from '../lab-ops/runtime.js';
import { defaultHostPaths, type HostPaths } from '../paths.js';

export interface GlobalOpts {
  connect?: string;
  dataDir?: string;
}

export function hostPaths(g: GlobalOpts): HostPaths {
  const p = defaultHostPaths();
  return g.dataDir ? { ...p, dataDir: g.dataDir } : p;
}

export { knownImages, loadLabForHost, planForHost };

export function openRuntime(g: GlobalOpts): Promise<LabRuntime> {
  return openHostRuntime(hostPaths(g), g.connect);
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
