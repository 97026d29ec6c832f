import { parseLab } from '../../src/lab/load.js';
import { planLab } from '../../src/plan/plan.js';
import { renderLab, type RenderedLab } from '../../src/render/index.js';
import { GOLDEN_PLAN_OPTS, readLab, root } from './lab.js';

/**
 * An example lab rendered with fixed host facts. Paths a lab resolves against
 * its own folder (install media) are moved under /checkout, so the renderings
 * (and the VM hashes over them) do not depend on where the repository is.
 */
export function renderExample(rel: string, accel: 'kvm' | 'tcg' = 'kvm'): RenderedLab {
  const lab = parseLab(rel, readLab(rel));
  const fixed = { ...lab, vms: lab.vms.map((v) => (v.boot.cdrom ? { ...v, boot: { ...v.boot, cdrom: v.boot.cdrom.replace(root, '/checkout') } } : v)) };
  const opts = accel === 'kvm' ? GOLDEN_PLAN_OPTS : { ...GOLDEN_PLAN_OPTS, autoAccel: { accel, reason: 'fixed for tests' } };
  return renderLab(planLab(fixed, opts));
}

export function renderedFiles(r: RenderedLab): Map<string, string> {
  const files = new Map<string, string>();
  for (const vm of r.vms) for (const [name, text] of Object.entries(vm.files)) files.set(`${vm.name}/${name}`, text);
  for (const n of r.networks) files.set(`networks/${n.name}.xml`, n.xml);
  return files;
}
