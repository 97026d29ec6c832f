import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { root } from '../helpers/lab.js';
import { libvirtObjects, requireLiveHost } from '../helpers/live.js';

/**
 * vmlab installed the way the ecosystem installs a CLI: `npm pack` in the checkout, then
 * `npm install -g` of the tarball (here into a temporary prefix), and the quickstart run from
 * another directory: templates, image recipes, schemas, labs and the page's files come from the
 * installed package, never from the checkout.
 */
describe('live: installed from the packed tarball (npm pack, npm install -g), quickstart from another directory', function () {
  this.timeout(30 * 60_000);
  const prefix = mkdtempSync(join(tmpdir(), 'vmlab-prefix-'));
  const elsewhere = mkdtempSync(join(tmpdir(), 'vmlab-cwd-'));
  let bin: string;
  let pkg: string;
  const run = (args: string[]) => execa(bin, args, { reject: false, cwd: elsewhere, timeout: 20 * 60_000 });

  before(async () => {
    await requireLiveHost();
    await execa('node', [join(root, 'dist/src/cli/main.js'), 'down', 'quickstart'], { reject: false });
    const packed = mkdtempSync(join(tmpdir(), 'vmlab-pack-'));
    await execa('npm', ['pack', '--pack-destination', packed, '--loglevel=error'], { cwd: root });
    const tgz = readdirSync(packed).find((f) => /^vmlab-.*\.tgz$/.test(f));
    assert.ok(tgz, 'npm pack wrote no vmlab-<version>.tgz');
    await execa('npm', ['install', '-g', '--prefix', prefix, join(packed, tgz), '--no-audit', '--no-fund', '--loglevel=error'], { cwd: elsewhere });
    bin = join(prefix, 'bin', 'vmlab');
    pkg = join(prefix, 'lib', 'node_modules', 'vmlab');
    assert.ok(existsSync(bin), `no ${bin}`);
  });

  after(async () => {
    await execa(bin, ['down', 'quickstart'], { reject: false, cwd: elsewhere });
  });

  it('the package holds what vmlab reads at run time, and nothing of the checkout is used', async () => {
    for (const p of ['templates', 'images/debian-12', 'schemas/lab.schema.json', 'labs/quickstart.yaml', 'src/serve/public', 'dist/src/cli/main.js'])
      assert.ok(existsSync(join(pkg, p)), `${p} missing from the package`);
    assert.equal(existsSync(join(pkg, 'test')), false, 'no tests in the package');
    const doctor = await run(['doctor', '--json']);
    const checks = JSON.parse(String(doctor.stdout)).checks as Array<{ name: string; ok: boolean; detail: string }>;
    assert.ok(checks.find((c) => c.name === 'libvirt')?.ok, JSON.stringify(checks));
    assert.ok(checks.find((c) => c.name === 'image')?.ok, 'the installed vmlab finds the image built under /var/lib/vmlab');
    const v = await run(['validate', join(pkg, 'labs', 'quickstart.yaml')]);
    assert.equal(v.exitCode, 0, String(v.stderr));
  });

  it('up, exec and down of the quickstart lab from another directory', async () => {
    const lab = join(pkg, 'labs', 'quickstart.yaml');
    const up = await run(['up', lab, '--json']);
    assert.equal(up.exitCode, 0, String(up.stderr));
    assert.ok(JSON.parse(String(up.stdout)).vms.every((v: { ready: boolean }) => v.ready));
    const ping = await run(['exec', lab, 'emu', '--', 'ping', '-c', '2', '-W', '3', '10.10.0.12']);
    assert.equal(ping.exitCode, 0, String(ping.stdout) + String(ping.stderr));
    const down = await run(['down', 'quickstart']);
    assert.equal(down.exitCode, 0, String(down.stderr));
    assert.deepEqual(await libvirtObjects('vmlab-quickstart-'), []);
  });
});
