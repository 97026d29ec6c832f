import assert from 'node:assert/strict';
import YAML from 'yaml';
import { LabError } from '../../src/errors.js';
import { parseLab } from '../../src/lab/load.js';
import { planLab } from '../../src/plan/plan.js';
import { renderLab } from '../../src/render/index.js';
import { exampleLabs, readLab, GOLDEN_PLAN_OPTS } from '../helpers/lab.js';

/** Small deterministic PRNG (mulberry32) so a failing case can be replayed from its seed. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE: unknown[] = [
  '',
  ' ',
  '&<>"\'',
  '{{x}}',
  '../../etc/passwd',
  'a'.repeat(300),
  '\u0000',
  'é',
  '-1',
  '1e309',
  'null',
  '*',
  '#',
  ':',
  '- x',
  0,
  -1,
  1.5,
  1e12,
  Number.MAX_SAFE_INTEGER,
  true,
  false,
  null,
  [],
  {},
  [1, 2],
  { a: 1 },
  '10.0.0.999/24',
  '300.1.1.1/24',
  '52:54:00:zz:00:00',
];

type Node = unknown;

function paths(node: Node, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(node)) node.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function getParent(root: Node, path: Array<string | number>): [Record<string | number, unknown>, string | number] | undefined {
  if (path.length === 0) return undefined;
  let cur = root as Record<string | number, unknown>;
  for (const seg of path.slice(0, -1)) cur = cur[seg] as Record<string | number, unknown>;
  return [cur, path[path.length - 1]!];
}

function mutate(obj: Node, rand: () => number): Node {
  const copy = structuredClone(obj);
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    const all = paths(copy);
    const p = all[Math.floor(rand() * all.length)]!;
    const pp = getParent(copy, p);
    if (!pp) continue;
    const [parent, key] = pp;
    const op = rand();
    if (op < 0.3) {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
    } else if (op < 0.8) {
      parent[key] = structuredClone(HOSTILE[Math.floor(rand() * HOSTILE.length)]);
    } else if (op < 0.9 && !Array.isArray(parent)) {
      parent[String(key) + 'x'] = parent[key];
    } else {
      const v = parent[key];
      parent[key] = Array.isArray(v) ? { item: v } : typeof v === 'object' && v ? [v] : String(v);
    }
  }
  return copy;
}

function textMutate(text: string, rand: () => number): string {
  const i = Math.floor(rand() * text.length);
  const j = i + Math.floor(rand() * 20);
  const junk = ['', ':', '\t', '- ', '{', '"', "'", '&a', '*a', '\n  ', '!!binary '][Math.floor(rand() * 11)]!;
  return text.slice(0, i) + junk + text.slice(j);
}

describe('fuzz: mutated lab files never crash', function () {
  this.timeout(120_000);
  const CASES = Number(process.env.VMLAB_FUZZ_CASES ?? 3000);

  it(`${CASES} structural and textual mutations are valid or a LabError with a path`, () => {
    const seeds = exampleLabs().map((f) => ({ file: f, text: readLab(f), obj: YAML.parse(readLab(f)) }));
    const rand = rng(20261124);
    let valid = 0;
    let invalid = 0;
    for (let c = 0; c < CASES; c++) {
      const s = seeds[c % seeds.length]!;
      const text = c % 4 === 3 ? textMutate(s.text, rand) : YAML.stringify(mutate(s.obj, rand));
      try {
        const plan = planLab(parseLab('fuzz.yaml', text), GOLDEN_PLAN_OPTS);
        const r = renderLab(plan);
        assert.ok(r.vms.length > 0);
        valid++;
      } catch (e) {
        if (!(e instanceof LabError)) {
          throw new Error(`case ${c} crashed with ${(e as Error).stack}\n--- input ---\n${text}`);
        }
        assert.ok(e.issues.length > 0, `case ${c}: LabError without issues`);
        for (const i of e.issues) {
          assert.equal(typeof i.path, 'string');
          assert.ok(i.message.length > 0);
          assert.ok(i.path !== '' || /YAML|lab|missing|mapping/.test(i.message), `case ${c}: issue without a path: ${i.message}`);
        }
        invalid++;
      }
    }
    assert.equal(valid + invalid, CASES);
    assert.ok(valid > 0 && invalid > CASES / 2, `valid=${valid} invalid=${invalid}`);
  });
});
