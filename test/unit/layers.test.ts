import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { root } from '../helpers/lab.js';

/**
 * Imports run one way: file → model → plan → render → adapters → operations →
 * front ends (ARCHITECTURE.md). A folder may import from its own rank or a
 * lower one, never from an outer one.
 */
const RANK: Record<string, number> = {
  util: 0,
  errors: 0,
  paths: 0,
  profiles: 1,
  images: 1,
  lab: 2,
  services: 2,
  plan: 3,
  render: 4,
  libvirt: 5,
  host: 5,
  guest: 5,
  container: 5,
  'lab-ops': 6,
  assignment: 7,
  bench: 7,
  class: 8,
  serve: 9,
  cli: 10,
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

const layerOf = (file: string) => relative(join(root, 'src'), file).split('/')[0]!.replace(/\.ts$/, '');

describe('structure: imports run one way', () => {
  const files = sources(join(root, 'src'));

  it('every folder of src/ has a rank', () => {
    assert.deepEqual(
      [...new Set(files.map(layerOf))].filter((l) => RANK[l] === undefined),
      [],
    );
  });

  it('no module imports from an outer layer', () => {
    const back: string[] = [];
    for (const f of files) {
      const from = layerOf(f);
      for (const m of readFileSync(f, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        const target = layerOf(normalize(join(dirname(f), m[1]!)));
        if (RANK[target]! > RANK[from]!) back.push(`${relative(root, f)} (${from}) imports ${m[1]} (${target})`);
      }
    }
    assert.deepEqual(back, []);
  });

  it('no source file is over 400 lines', () => {
    const long = files.map((f) => [relative(root, f), readFileSync(f, 'utf8').split('\n').length] as const).filter(([, n]) => n > 400);
    assert.deepEqual(long, [], 'split these files');
  });
});
