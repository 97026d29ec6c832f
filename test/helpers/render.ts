import { parseLab } from '../../src/lab/load.js';
import { planLab } from '../../src/plan/plan.js';
import { renderLab, type RenderedLab } from '../../src/render/index.js';
import { GOLDEN_PLAN_OPTS, readLab } from './lab.js';

export function renderExample(rel: string): RenderedLab {
  return renderLab(planLab(parseLab(rel, readLab(rel)), GOLDEN_PLAN_OPTS));
}

export function renderedFiles(r: RenderedLab): Map<string, string> {
  const files = new Map<string, string>();
  for (const vm of r.vms) for (const [name, text] of Object.entries(vm.files)) files.set(`${vm.name}/${name}`, text);
  for (const n of r.networks) files.set(`networks/${n.name}.xml`, n.xml);
  return files;
}
