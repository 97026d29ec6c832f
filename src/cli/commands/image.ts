import type { Command } from 'commander';
import { writeContainerDisk } from '../../host/containerdisk.js';
import { containerLowers } from '../../container/nspawn.js';
import { removeTree } from '../../host/mounts.js';
import { rootfsDir } from '../../plan/container-plan.js';
import { join } from 'node:path';
import { buildImage } from '../../host/image-builder.js';
import { checkImageName, importImage, publishConverted } from '../../host/image-import.js';
import { captureVmImage } from '../../lab-ops/image-capture.js';
import { VmlabError } from '../../errors.js';
import { seconds } from '../options.js';
import { pullImage } from '../../host/image-pull.js';
import { ImageStore } from '../../host/image-store.js';
import { catalogEntry, loadCatalog } from '../../images/catalog.js';
import { loadRecipe, recipeNames } from '../../images/recipe.js';
import { hostPaths, labArg, withRuntime, type GlobalOpts } from '../context.js';
import { emit, reportErrors } from '../output.js';
import { Progress } from '../progress.js';
import { findBackingUsers } from '../../host/overlay-scan.js';

export function imageStore(cmd: Command): ImageStore {
  return new ImageStore(join(hostPaths(cmd.optsWithGlobals() as GlobalOpts).dataDir, 'images'));
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;

export function registerImage(program: Command): void {
  const image = program.command('image').description('guest images: build from a recipe, pull from the catalog, import, list, remove');

  image
    .command('list')
    .description('images in the cache, recipes that can be built, and the upstream catalog')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const store = imageStore(cmd);
        const images = store.list();
        const recipes = recipeNames().map((n) => {
          const r = loadRecipe(n);
          const cur = store.current(n);
          return { name: n, description: r.description, built: Boolean(cur), upToDate: cur?.recipeHash === r.hash };
        });
        const catalog = loadCatalog().map((c) => ({ name: c.name, description: c.description, url: c.url, pulled: images.some((i) => i.name === c.name) }));
        emit(opts, { dir: store.dir, images, recipes, catalog }, () => {
          const lines = [`image cache: ${store.dir}`];
          lines.push(images.length ? 'images:' : 'images: none yet (build one: vmlab image build debian-12)');
          for (const i of images)
            lines.push(
              `  ${i.name.padEnd(24)} ${i.source.padEnd(7)} ${mb(i.actualSize).padStart(9)} on disk, ${mb(i.virtualSize)} virtual, version ${i.version}${i.olderVersions.length ? ` (+${i.olderVersions.length} older)` : ''}`,
            );
          lines.push('recipes (vmlab image build NAME):');
          for (const r of recipes) lines.push(`  ${r.name.padEnd(24)} ${r.built ? (r.upToDate ? 'built, up to date' : 'built, recipe changed: rebuild') : 'not built'}`);
          lines.push('catalog (vmlab image pull NAME, needs internet):');
          for (const c of catalog) lines.push(`  ${c.name.padEnd(24)} ${c.pulled ? 'pulled' : ''} ${c.description}`);
          return lines.join('\n');
        });
      }),
    );

  image
    .command('capture')
    .description("a lab VM's disk as a new image (shut down, flattened, its origin recorded): install once, then labs clone it")
    .argument('<lab>', 'lab file or lab name')
    .argument('<vm>', 'the VM')
    .requiredOption('--name <image>', 'name of the new image')
    .option('--force', 'power the VM off instead of asking the guest to shut down')
    .option('--timeout <seconds>', 'how long the guest may take to power off (default 180)', seconds)
    .option('--json', 'machine-readable output')
    .action((arg: string, vm: string, opts: { name: string; force?: boolean; timeout?: number; json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        checkImageName(opts.name);
        if (recipeNames().includes(opts.name)) {
          throw new VmlabError('ERR_VMLAB_IMAGE_NAME', `"${opts.name}" is built from a recipe (images/${opts.name}/)`, { kind: 'user', hint: 'give the captured image a name of its own' });
        }
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const { name: lab } = labArg(arg, hostPaths(g));
        const store = imageStore(cmd);
        store.ensure();
        const progress = new Progress(Boolean(opts.json));
        const r = await withRuntime(g, (rt) =>
          captureVmImage(rt, {
            lab,
            vm,
            name: opts.name,
            ...(opts.force ? { force: true } : {}),
            ...(opts.timeout ? { timeoutMs: opts.timeout * 1000 } : {}),
            publish: (disk, format, name, origin) => publishConverted(store, disk, format, name, { source: 'capture', origin }),
            onStep: (what) => progress.step('capture', what),
          }),
        );
        emit(
          opts,
          { ok: true, lab, vm, ...r },
          () =>
            `image ${r.image.name} version ${r.image.version} from ${lab}/${vm} (${r.shutdown === 'was off' ? 'it was off' : r.shutdown === 'forced' ? 'powered off' : 'shut down'}): ${r.image.file}\nuse it: image: ${r.image.name} in a lab file (vmlab up starts ${vm} again)`,
        );
      }),
    );

  image
    .command('build')
    .description('build an image from images/<name>/recipe.yaml; does nothing if the recipe is unchanged')
    .argument('[name]', 'recipe name', 'debian-12')
    .option('--force', 'rebuild even if the recipe is unchanged')
    .option('--json', 'machine-readable output')
    .action((name: string, opts: { force?: boolean; json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const progress = new Progress(false);
        const recipe = loadRecipe(name);
        const r = await buildImage(recipe, imageStore(cmd), {
          force: opts.force,
          events: { step: (s, d) => progress.step(s, d), line: (l) => progress.update(l.slice(0, 100)) },
        }).finally(() => progress.done());
        emit(opts, { ok: true, ...r }, () =>
          r.status === 'cached'
            ? `${name}: up to date (recipe ${recipe.hash.slice(0, 12)}), nothing to do: ${r.image.file}`
            : `${name}: built in ${r.seconds.toFixed(0)} s: ${r.image.file} (${mb(r.image.actualSize)})\n  steps: ${Object.entries(r.steps)
                .map(([k, v]) => `${k} ${v!.toFixed(1)}s`)
                .join(', ')}`,
        );
      }),
    );

  image
    .command('export')
    .description("write an image for another engine: --format containerdisk, an OCI image archive KubeVirt's containerDisk takes (built offline, no container daemon)")
    .argument('<name>', 'image name')
    .requiredOption('--format <containerdisk>', 'what to write (containerdisk)')
    .requiredOption('-o, --out <file.tar>', 'the archive (oci-archive:FILE.tar for skopeo and podman)')
    .option('--tag <tag>', "the archive's tag (default: the image's version, as vmlab render --target kubevirt names it)")
    .option('--json', 'machine-readable output')
    .action((name: string, opts: { format: string; out: string; tag?: string; json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        if (opts.format !== 'containerdisk') throw new VmlabError('ERR_VMLAB_USAGE', `--format must be containerdisk, not "${opts.format}"`, { kind: 'user' });
        const file = imageStore(cmd).resolve(name);
        const tag = opts.tag ?? /@([^.]+)\.qcow2$/.exec(file)?.[1] ?? 'latest';
        const r = await writeContainerDisk(file, name, tag, opts.out);
        emit(
          opts,
          { ok: true, ...r },
          () =>
            `wrote ${r.file}: ${r.reference}, disk/${name}.qcow2 in one layer (${mb(r.layer.size)}), manifest ${r.manifest.digest}\n  push it: skopeo copy oci-archive:${r.file} docker://REGISTRY/${r.reference}`,
        );
      }),
    );

  image
    .command('import')
    .description('copy a disk image file into the cache (checked with qemu-img; converted to qcow2)')
    .argument('<path>', 'disk image file (qcow2, raw with a partition table, vmdk, vdi, vhdx)')
    .requiredOption('--name <name>', 'name labs will use for it')
    .option('--json', 'machine-readable output')
    .action((path: string, opts: { name: string; json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const info = await importImage(imageStore(cmd), path, opts.name);
        emit(opts, { ok: true, image: info }, () => `imported ${path} as "${info.name}" (${info.file})`);
      }),
    );

  image
    .command('pull')
    .description('download a catalog image (resumes), verify its checksum, add it to the cache')
    .argument('<name>', 'catalog name (vmlab image list)')
    .option('--json', 'machine-readable output')
    .action((name: string, opts: { json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const progress = new Progress(false);
        const entry = catalogEntry(name);
        const info = await pullImage(imageStore(cmd), entry, {
          step: (s) => progress.step(s),
          progress: (got, total) => progress.update(total ? `${mb(got)} / ${mb(total)} (${((got / total) * 100).toFixed(0)}%)` : mb(got)),
        }).finally(() => progress.done());
        emit(opts, { ok: true, image: info }, () => `pulled ${name}: ${info.file}`);
      }),
    );

  image
    .command('remove')
    .description('remove an image; versions still used as backing files by lab disks are kept')
    .argument('<name>', 'image name')
    .option('--json', 'machine-readable output')
    .action((name: string, opts: { json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const store = imageStore(cmd);
        const dataDir = hostPaths(cmd.optsWithGlobals() as GlobalOpts).dataDir;
        const users = await findBackingUsers(join(dataDir, 'labs'));
        // A version is also in use while a container stands on its unpacked root file system.
        for (const [lower, cts] of await containerLowers(dataDir))
          for (const f of store.versionFiles(name)) if (rootfsDir(dataDir, f) === lower) users.set(f, new Set([...(users.get(f) ?? []), ...cts]));
        const r = store.remove(name, (f) => users.has(f));
        for (const f of r.removed) await removeTree(rootfsDir(dataDir, f));
        emit(opts, { ok: true, ...r }, () =>
          [`removed ${r.removed.length} file(s) of "${name}"`, ...r.kept.map((k) => `  kept ${k}: used by ${[...(users.get(k) ?? [])].join(', ')} (vmlab down those labs first)`)].join('\n'),
        );
        if (r.kept.length) process.exitCode = 1;
      }),
    );
}
