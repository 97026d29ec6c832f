import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from '../../src/errors.js';
import { parseLab } from '../../src/lab/load.js';
import type { LabModel } from '../../src/lab/model.js';
import { labsDir, packageRoot } from '../../src/paths.js';
import { planLab, type Plan } from '../../src/plan/plan.js';

export const root = packageRoot;

/** Example labs shipped in labs/ (top level only). */
export function exampleLabs(): string[] {
  return readdirSync(labsDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join('labs', f));
}

export function readLab(rel: string): string {
  return readFileSync(join(root, rel), 'utf8');
}

/** Fixed host facts so goldens do not depend on the machine. */
export const GOLDEN_PLAN_OPTS = {
  paths: { dataDir: '/var/lib/vmlab', runDir: '/run/vmlab' },
  autoAccel: { accel: 'kvm' as const, reason: 'fixed for golden files' },
};

export function planFromText(text: string, file = 'test.yaml'): Plan {
  return planLab(parseLab(file, text), GOLDEN_PLAN_OPTS);
}

export function modelFromText(text: string, file = 'test.yaml'): LabModel {
  return parseLab(file, text);
}

/** Every issue validation finds in `text`, as "path: message" (with " (hint)" when `hints`); none for a valid lab. */
export function labIssues(text: string, file = 'test.yaml', hints = false): string[] {
  try {
    parseLab(file, text);
  } catch (e) {
    if (e instanceof LabError) return e.issues.map((i) => `${i.path}: ${i.message}${hints && i.hint ? ` (${i.hint})` : ''}`);
    throw e;
  }
  return [];
}

/** The LabError thrown for `text`, or a failure if it was valid. */
export function labErrorOf(text: string, file = 'test.yaml'): LabError {
  try {
    planLab(parseLab(file, text), GOLDEN_PLAN_OPTS);
  } catch (e) {
    if (e instanceof LabError) return e;
    throw e;
  }
  throw new Error('expected the lab to be invalid, but it validated');
}

export const MINIMAL = `name: t
networks:
  lan:
    subnet: 10.0.0.0/24
vms:
  a:
    nics:
      - network: lan
        ip: 10.0.0.10/24
`;
