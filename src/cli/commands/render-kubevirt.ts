import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import YAML from 'yaml';
import { ImageStore } from '../../host/image-store.js';
import { loadClass } from '../../lab/class-file.js';
import { loadLab } from '../../lab/load.js';
import { loadAssignment } from '../../assignment/load.js';
import type { LabModel } from '../../lab/model.js';
import type { HostPaths } from '../../paths.js';
import { classCopies } from '../../plan/class-plan.js';
import { planLab, type AutoAccel, type Plan } from '../../plan/plan.js';
import type { RenderedManifests } from '../../render/kubevirt/manifests.js';

/** A class file names `class:` at its top; anything else is a lab file. */
function isClassFile(file: string): boolean {
  const doc = YAML.parse(readFileSync(file, 'utf8')) as unknown;
  return typeof doc === 'object' && doc !== null && 'class' in doc;
}

/** One plan per lab copy: the lab's own, or every student's of a class. */
export function kubevirtPlans(file: string, paths: HostPaths, auto: AutoAccel): Plan[] {
  const plan = (lab: LabModel) => planLab(lab, { paths, autoAccel: auto });
  if (!isClassFile(file)) return [plan(loadLab(file))];
  const cls = loadClass(file);
  const lab = cls.source.kind === 'assignment' ? loadAssignment(cls.source.file).lab : loadLab(cls.source.file);
  return classCopies(cls, lab).map((c) => plan(c.lab));
}

/** An image's tag: its version in the cache (`debian-12@<version>.qcow2`), as `vmlab image export` tags it. */
export function imageTags(plans: readonly Plan[], paths: HostPaths): Record<string, string> {
  const store = new ImageStore(join(paths.dataDir, 'images'));
  const out: Record<string, string> = {};
  for (const name of new Set(plans.flatMap((p) => p.vms.flatMap((v) => (v.image ? [v.image.name] : []))))) {
    let file: string | undefined;
    try {
      file = store.resolve(name);
    } catch {
      file = undefined;
    }
    out[name] = file ? (/@([^.]+)\.qcow2$/.exec(basename(file))?.[1] ?? 'latest') : 'latest';
  }
  return out;
}

/** Writes the manifests, one object per file, and README.txt with what the cluster must do and the notes. */
export function writeManifests(out: string, r: RenderedManifests, registry: string): string[] {
  mkdirSync(out, { recursive: true });
  const written: string[] = [];
  for (const f of r.files) {
    const path = join(out, f.file);
    // A Secret holds cloud-init (password hashes, keys): readable by the owner only.
    writeFileSync(path, YAML.stringify(f.object, { lineWidth: 0, aliasDuplicateObjects: false }), { mode: f.object.kind === 'Secret' ? 0o600 : 0o644 });
    written.push(path);
  }
  const images = [...new Set(r.files.flatMap((f) => JSON.stringify(f.object).match(new RegExp(`${registry.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/[^"]+`, 'g')) ?? []))];
  const readme = [
    'Rendered by vmlab for KubeVirt (plain Kubernetes YAML, one object per file).',
    '',
    'The cluster needs KubeVirt, Multus and the bridge CNI plugin on every node, and these images in its registry:',
    ...images.map((i) => `  ${i}    (vmlab image export NAME --format containerdisk --out NAME.tar; then e.g. skopeo copy oci-archive:NAME.tar docker://${i})`),
    '',
    'Apply, watch, and remove:',
    `  kubectl apply -f ${out}`,
    '  kubectl get vmi -A -l vmlab.dev/lab',
    `  kubectl delete -f ${out}`,
    '',
    ...(r.notes.length ? ['Notes:', ...r.notes.map((n) => `  - ${n}`)] : []),
  ].join('\n');
  writeFileSync(join(out, 'README.txt'), readme + '\n');
  written.push(join(out, 'README.txt'));
  return written;
}
