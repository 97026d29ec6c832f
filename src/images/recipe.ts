import { readdirSync, readFileSync, lstatSync, readlinkSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import YAML from 'yaml';
import { VmlabError } from '../errors.js';
import { imagesDir } from '../paths.js';
import { createHash } from 'node:crypto';
import { parseSize } from '../util/units.js';

/**
 * Bump when the build steps change what ends up in the image (2: package log directories kept;
 * 3: generators masked; 4: initramfs modules added by a hook, not force-loaded; add-wants; 5: remove-modules).
 */
export const BUILDER_VERSION = 5;

export interface ImageRecipe {
  name: string;
  description: string;
  suite: string;
  variant: string;
  architecture: string;
  packages: string[];
  initramfsModules: string[];
  /**
   * maskGenerators: systemd generators linked to /dev/null in /etc/systemd/system-generators;
   * addWants: target → units it pulls in (`systemctl add-wants`), for units without an [Install] section.
   */
  systemd: { enable: string[]; disable: string[]; mask: string[]; maskGenerators: string[]; addWants: Record<string, string[]> };
  kernelCmdline: string;
  disk: { sizeBytes: number; bootBytes: number; rootLabel: string };
  /** Directories whose trees are copied into the root filesystem before packages install, in order (a base recipe's first). */
  filesDirs: string[];
  /**
   * Kernel modules removed from the image (glob patterns on module names,
   * e.g. virtio*): from /lib/modules (then depmod) and from the initramfs.
   */
  removeModules: string[];
  /** The recipe this one extends (`extends:`): every key it does not set comes from there. */
  base?: string;
  recipeFile: string;
  /** sha256 over the recipe, every file under files/ (path, mode, content) and the builder version. */
  hash: string;
}

export function recipeNames(dir = imagesDir): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => existsSync(join(dir, d, 'recipe.yaml')))
    .sort();
}

export function loadRecipe(name: string, dir = imagesDir): ImageRecipe {
  const recipeFile = join(dir, name, 'recipe.yaml');
  if (!existsSync(recipeFile)) {
    throw new VmlabError('ERR_VMLAB_IMAGE_NO_RECIPE', `no recipe for image "${name}"`, {
      kind: 'user',
      hint: `images with a recipe: ${recipeNames(dir).join(', ') || 'none'}; others can be pulled (vmlab image pull) or imported`,
    });
  }
  const text = readFileSync(recipeFile, 'utf8');
  const own = YAML.parse(text) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  // `extends: NAME`: the base recipe's keys, with this file's on top (its files/ copied after the base's).
  const base = typeof own.extends === 'string' ? loadRecipe(own.extends, dir) : undefined;
  const r = { ...(base ? YAML.parse(readFileSync(base.recipeFile, 'utf8')) : {}), ...own } as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const filesDir = join(dir, name, 'files');
  const size = parseSize(String(r.disk?.size ?? '3GiB'));
  const boot = parseSize(String(r.disk?.['boot-size'] ?? '96MiB'));
  if (!size || !boot) throw new VmlabError('ERR_VMLAB_IMAGE_RECIPE', `${recipeFile}: disk.size and disk.boot-size need units`);
  const h = createHash('sha256');
  h.update(`builder:${BUILDER_VERSION}\n`);
  if (base) h.update(`base:${base.hash}\n`);
  h.update(text);
  for (const f of walk(filesDir)) {
    const st = lstatSync(f);
    h.update(`\n${relative(filesDir, f)}:${st.mode.toString(8)}:`);
    h.update(st.isSymbolicLink() ? readlinkSync(f) : readFileSync(f));
  }
  return {
    name: own.name ?? name,
    description: own.description ?? '',
    suite: r.suite,
    variant: r.variant ?? 'minbase',
    architecture: r.architecture ?? 'amd64',
    packages: r.packages ?? [],
    initramfsModules: r['initramfs-modules'] ?? [],
    systemd: {
      enable: r.systemd?.enable ?? [],
      disable: r.systemd?.disable ?? [],
      mask: r.systemd?.mask ?? [],
      maskGenerators: r.systemd?.['mask-generators'] ?? [],
      addWants: r.systemd?.['add-wants'] ?? {},
    },
    kernelCmdline: r['kernel-cmdline'] ?? '',
    disk: { sizeBytes: size, bootBytes: boot, rootLabel: r.disk?.['root-label'] ?? 'vmlab-root' },
    filesDirs: [...(base?.filesDirs ?? []), ...(existsSync(filesDir) ? [filesDir] : [])],
    removeModules: r['remove-modules'] ?? [],
    ...(base ? { base: base.name } : {}),
    recipeFile,
    hash: h.digest('hex'),
  };
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}
