import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import YAML from 'yaml';
import { labSchema } from '../../src/lab/schema.js';
import { assignmentSchema } from '../../src/lab/schema-files.js';
import { exampleLabs, labErrorOf, MINIMAL, readLab, root } from '../helpers/lab.js';

const ajv = new Ajv2020({ allErrors: true, strict: false });
const lab = ajv.compile(labSchema());
const assignment = ajv.compile(assignmentSchema());
const errors = (v: typeof lab) => (v.errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join('; ');

describe('the published schema (vmlab schema; schemas/*.json)', () => {
  it('the shipped files are what `vmlab schema` prints (npm run schema regenerates them)', () => {
    assert.deepEqual(JSON.parse(readFileSync(join(root, 'schemas', 'lab.schema.json'), 'utf8')), labSchema());
    assert.deepEqual(JSON.parse(readFileSync(join(root, 'schemas', 'assignment.schema.json'), 'utf8')), assignmentSchema());
  });

  it('every example lab and assignment validates against it, and names it for editors on its first line', () => {
    for (const f of exampleLabs()) {
      const text = readLab(f);
      assert.ok(lab(YAML.parse(text)), `${f}: ${errors(lab)}`);
      assert.match(text.split('\n')[0]!, /^# yaml-language-server: \$schema=\.\.\/schemas\/lab\.schema\.json$/, f);
    }
    for (const f of readdirSync(join(root, 'labs', 'assignments'))) {
      const text = readLab(join('labs', 'assignments', f));
      assert.ok(assignment(YAML.parse(text)), `${f}: ${errors(assignment)}`);
      assert.match(text.split('\n')[0]!, /^# yaml-language-server: \$schema=\.\.\/\.\.\/schemas\/assignment\.schema\.json$/, f);
    }
  });

  it("the README's full lab example validates against it", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const m = /## The lab file[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme);
    assert.ok(lab(YAML.parse(m![1]!)), errors(lab));
  });

  it('what the schema refuses, the validator refuses too (unknown keys, wrong types, unknown profiles, services and parameters)', () => {
    const bad: Array<[string, string]> = [
      [MINIMAL.replace('  a:\n', '  a:\n    memroy: 1GiB\n'), 'vms.a.memroy'],
      [MINIMAL.replace('  a:\n', '  a:\n    vcpus: two\n'), 'vms.a.vcpus'],
      [MINIMAL.replace('  a:\n', '  a:\n    profile: virtoi\n'), 'vms.a.profile'],
      [MINIMAL.replace('  a:\n', '  a:\n    services: [webb]\n'), 'vms.a.services[0]'],
      [MINIMAL.replace('  a:\n', '  a:\n    services: [{ web: { prot: 80 } }]\n'), 'vms.a.services[0].web.prot'],
      [MINIMAL.replace('  a:\n', '  a:\n    memory: 512\n'), 'vms.a.memory'],
      [MINIMAL.replace('ip: 10.0.0.10/24', 'ip: 10.0.0.300/24'), 'vms.a.nics[0].ip'],
    ];
    for (const [text, path] of bad) {
      assert.equal(lab(YAML.parse(text)), false, `the schema accepts ${path}`);
      const e = labErrorOf(text);
      assert.ok(
        e.issues.some((i) => i.path === path && i.line !== undefined),
        `validator: ${path}: ${e.issues.map((i) => i.path).join(', ')}`,
      );
    }
  });
});
