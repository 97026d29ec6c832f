import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { root } from './lab.js';

/** The round-trip functions of KubeVirt's published API models (@kubevirt-ui/kubevirt-api, generated from KubeVirt's OpenAPI). */
export interface KubevirtModels {
  V1VirtualMachineFromJSON(json: unknown): unknown;
  V1VirtualMachineToJSON(value: unknown): unknown;
  K8sIoApimachineryPkgApisMetaV1ObjectMetaFromJSON(json: unknown): unknown;
  K8sIoApimachineryPkgApisMetaV1ObjectMetaToJSON(value: unknown): unknown;
}

/**
 * The package ships TypeScript sources only: compile its models once (to
 * CommonJS, outside node_modules, where tsc emits them) and load them. Cached
 * per package version under the temp directory.
 */
export async function kubevirtModels(): Promise<KubevirtModels> {
  const pkg = join(root, 'node_modules', '@kubevirt-ui', 'kubevirt-api');
  const version = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
  const base = join(tmpdir(), `vmlab-kubevirt-api-${version}`);
  const out = join(base, 'js');
  if (!existsSync(join(out, 'models', 'index.js'))) {
    rmSync(base, { recursive: true, force: true });
    mkdirSync(base, { recursive: true });
    cpSync(join(pkg, 'kubevirt'), join(base, 'src'), { recursive: true });
    const tsc = join(root, 'node_modules', '.bin', 'tsc');
    await execa(tsc, ['--outDir', out, '--module', 'commonjs', '--target', 'es2020', '--lib', 'es2020,dom', '--skipLibCheck', join(base, 'src', 'models', 'index.ts')]);
    writeFileSync(join(out, 'package.json'), '{"type":"commonjs"}\n');
  }
  return createRequire(import.meta.url)(join(out, 'models', 'index.js')) as KubevirtModels;
}

/** What of `value` the models do not know: the object round-tripped through them, compared with itself (JSON). */
export function roundTrip(from: (j: unknown) => unknown, to: (v: unknown) => unknown, value: unknown): unknown {
  return JSON.parse(JSON.stringify(to(from(value)))) as unknown;
}
