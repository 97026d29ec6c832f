import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { root } from '../helpers/lab.js';

const CLI = join(root, 'dist', 'src', 'cli', 'main.js');
const vmlab = (args: string[]) => execa('node', [CLI, ...args], { reject: false, cwd: root });

describe('cli: validate and render', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'vmlab-cli-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('validate: exit 0 for a valid lab, --json describes it', async () => {
    const r = await vmlab(['validate', 'labs/quickstart.yaml', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.ok, true);
    assert.deepEqual(
      j.vms.map((v: { name: string }) => v.name),
      ['emu', 'para'],
    );
  });

  it('validate: exit 2 with file:line:column, path and hint; no stack trace', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: bad\nvms:\n  a:\n    memroy: 1GiB\n');
    const r = await vmlab(['validate', bad]);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, new RegExp(`${bad.replace(/[.]/g, '\\.')}:4:5: vms\\.a\\.memroy: unknown key`));
    assert.match(r.stderr, /did you mean "memory"/);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
    const j = await vmlab(['validate', bad, '--json']);
    assert.equal(j.exitCode, 2);
    assert.equal(JSON.parse(j.stdout).error.issues[0].path, 'vms.a.memroy');
  });

  it('validate: a missing file is a user error (exit 2)', async () => {
    const r = await vmlab(['validate', join(dir, 'nope.yaml')]);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /cannot read lab file .*ENOENT/);
  });

  it('render: writes DIR/<vm>/{domain.xml,user-data,meta-data,network-config} and DIR/networks/<net>.xml', async () => {
    const out = join(dir, 'out');
    const r = await vmlab(['render', 'labs/quickstart.yaml', '--out', out, '--auto-accel', 'tcg', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.vms[0].accel, 'tcg');
    assert.deepEqual(readdirSync(out).sort(), ['emu', 'networks', 'para']);
    assert.deepEqual(readdirSync(join(out, 'emu')).sort(), ['domain.xml', 'meta-data', 'network-config', 'user-data']);
    assert.ok(existsSync(join(out, 'networks', 'lan.xml')));
    assert.equal(statSync(join(out, 'emu', 'user-data')).mode & 0o777, 0o600);
  });

  it('render: writes nothing when validation fails', async () => {
    const bad = join(dir, 'bad2.yaml');
    writeFileSync(bad, 'name: bad\nvms:\n  a:\n    vcpus: 0\n');
    const out = join(dir, 'never');
    const r = await vmlab(['render', bad, '--out', out]);
    assert.equal(r.exitCode, 2);
    assert.equal(existsSync(out), false);
  });

  it('usage errors exit 2', async () => {
    assert.equal((await vmlab(['render', 'labs/quickstart.yaml'])).exitCode, 2);
    assert.equal((await vmlab(['render', 'labs/quickstart.yaml', '--out', join(dir, 'x'), '--auto-accel', 'xen'])).exitCode, 2);
    assert.equal((await vmlab(['frobnicate'])).exitCode, 2);
  });

  it('numeric options are checked: up --timeout abc is a usage error (exit 2), before anything is done', async () => {
    for (const bad of ['abc', '0', '-5', '', '1e9']) {
      const r = await vmlab(['up', 'labs/quickstart.yaml', '--timeout', bad]);
      assert.equal(r.exitCode, 2, `--timeout ${JSON.stringify(bad)}: ${r.stderr}`);
      assert.match(r.stderr, /option '--timeout <seconds>' argument .* is invalid\. seconds: a number greater than 0/);
    }
  });

  it('exec: every failure of vmlab itself exits 255 (usage errors too), never a code a guest command could return', async () => {
    const r = await vmlab(['exec', 'labs/quickstart.yaml', 'emu', '--timeout', 'soon', '--', 'true']);
    assert.equal(r.exitCode, 255, r.stderr);
    const noLab = await vmlab(['exec', join(dir, 'missing.yaml'), 'emu', '--', 'true']);
    assert.equal(noLab.exitCode, 255, noLab.stderr);
    assert.match(noLab.stderr, /cannot read lab file/);
  });
});

describe('hints name commands a user of the installed tool has', () => {
  it('no hint or fix in src/ points at a script of this repository (.ci/…)', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts')) {
          readFileSync(p, 'utf8')
            .split('\n')
            .forEach((line, i) => {
              if (/\b(hint|fix)\b/.test(line) && /\.ci\//.test(line)) offenders.push(`${p}:${i + 1}: ${line.trim()}`);
            });
        }
      }
    };
    walk(join(root, 'src'));
    assert.deepEqual(offenders, []);
  });
});
