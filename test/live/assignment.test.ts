import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { root } from '../helpers/lab.js';
import { libvirtObjects, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';

const LAB = join(root, 'labs', 'webserver.yaml');
const WEB_PORT = join(root, 'labs', 'assignments', 'web-port.yaml');

/** An assignment whose checks pass in the checkpoint's state (the example's 8080 task is not done there). */
function passingAssignment(dir: string): string {
  const file = join(dir, 'web-ok.yaml');
  writeFileSync(
    file,
    [
      'assignment: web-ok',
      'title: The web server works',
      `lab: ${JSON.stringify(LAB)}`,
      'checks:',
      '  - name: nginx answers on 80',
      '    vm: web',
      '    run: [curl, -s, -o, /dev/null, -w, "%{http_code}", "http://127.0.0.1/"]',
      '    expect: { output: "^200$" }',
      '    points: 2',
      '    message: nginx does not answer — is it running? (systemctl status nginx)',
      '  - name: the page names the host',
      '    vm: web',
      '    run: [curl, -s, "http://127.0.0.1/"]',
      '    expect: { output: "web\\\\.webserver\\\\.test" }',
      '',
    ].join('\n'),
  );
  return file;
}

describe('live: snapshots and assignments (start, check, reset, autosave, report)', function () {
  this.timeout(30 * 60_000);
  let dir: string;
  let okFile: string;

  before(async () => {
    await requireLiveHost();
    await vmlab(['down', 'webserver']);
    dir = mkdtempSync(join(tmpdir(), 'vmlab-assign-'));
    okFile = passingAssignment(dir);
  });

  after(async () => {
    await vmlab(['down', 'webserver']);
  });

  it('start brings the lab up and takes the checkpoint; start again keeps it', async () => {
    const r = await vmlabJson(['assignment', 'start', WEB_PORT]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.json.created, true);
    const again = await vmlabJson(['assignment', 'start', WEB_PORT]);
    assert.equal(again.json.created, false);
    const list = await vmlabJson(['snapshot', 'list', LAB]);
    assert.deepEqual(
      list.json.snapshots.map((s: { name: string; complete: boolean; memory: boolean; state: string }) => [s.name, s.complete, s.memory, s.state]),
      [['start', true, true, 'running']],
    );
  });

  it('the example assignment fails at the start, with its message and exit 3', async () => {
    const r = await vmlab(['assignment', 'check', WEB_PORT, '--out', join(dir, 'web-port')]);
    assert.equal(r.exitCode, 3, String(r.stderr));
    assert.match(String(r.stdout), /nginx answers on 8080\s+web\s+FAILED\s+0\/3/);
    assert.match(String(r.stdout), /nothing answers on port 8080/);
    assert.match(String(r.stdout), /port 80 still works\s+web\s+passed/);
  });

  it('check passes; breaking the guest makes it fail with the message; reset brings it back', async () => {
    const ok = await vmlabJson(['assignment', 'check', okFile, '--out', dir]);
    assert.equal(ok.exitCode, 0, JSON.stringify(ok.json));
    assert.equal(ok.json.score, 3);

    const stop = await vmlab(['exec', LAB, 'web', '--', 'systemctl', 'stop', 'nginx']);
    assert.equal(stop.exitCode, 0);
    const bad = await vmlab(['assignment', 'check', okFile, '--out', dir]);
    assert.equal(bad.exitCode, 3);
    assert.match(String(bad.stdout), /nginx does not answer — is it running\?/);
    const saved = JSON.parse(readFileSync(join(dir, 'check.json'), 'utf8'));
    assert.equal(saved.failed, 2);
    assert.match(readFileSync(join(dir, 'junit.xml'), 'utf8'), /<testsuite name="web-ok" tests="2" failures="2"/);

    const t0 = Date.now();
    const reset = await vmlabJson(['assignment', 'reset', okFile]);
    const wall = Date.now() - t0;
    assert.equal(reset.exitCode, 0, reset.stderr);
    assert.match(reset.json.autosave.snapshot, /^autosave-\d{8}-\d{6}$/);
    assert.match(reset.json.revert.vms[0].method, /memory: resumed, no boot/);
    process.stdout.write(`      [live] reset: revert ${reset.json.revert.ms} ms, autosave ${reset.json.autosave.ms} ms, command wall ${wall} ms\n`);
    const after = await vmlab(['assignment', 'check', okFile, '--out', dir]);
    assert.equal(after.exitCode, 0, String(after.stdout));
  });

  it('the autosave exists and can be reverted to (the broken state comes back)', async () => {
    const list = await vmlabJson(['snapshot', 'list', LAB]);
    const autosave = list.json.snapshots.find((s: { name: string }) => s.name.startsWith('autosave-'));
    assert.ok(autosave?.complete, JSON.stringify(list.json));
    const rv = await vmlab(['snapshot', 'revert', LAB, autosave.name]);
    assert.equal(rv.exitCode, 0, String(rv.stderr));
    const check = await vmlab(['assignment', 'check', okFile, '--out', dir]);
    assert.equal(check.exitCode, 3, 'nginx is stopped again, as it was when the autosave was taken');
    const report = await vmlabJson(['assignment', 'report', okFile, '--format', 'html', '--out', dir]);
    assert.equal(report.exitCode, 0);
    assert.match(readFileSync(report.json.file, 'utf8'), /Score: 0\/3/);
  });

  it('assignment verify: web-port fails before its solution and passes after it, and leaves the lab at its start', async () => {
    const v = await vmlabJson(['assignment', 'verify', WEB_PORT]);
    assert.equal(v.exitCode, 0, JSON.stringify(v.json));
    assert.deepEqual(
      v.json.stages[0].before.map((c: { name: string; passed: boolean }) => [c.name, c.passed]),
      [
        ['nginx answers on 8080', false],
        ['the page on 8080 names the host', false],
        ['port 80 still works', true],
        ['the configuration survives a restart', true],
      ],
    );
    const check = await vmlab(['assignment', 'check', WEB_PORT, '--out', join(dir, 'web-port')]);
    assert.equal(check.exitCode, 3, 'the solution is gone again: verify reverted to the start');
  });

  it('a VM removed by hand: snapshot revert fails clearly and changes nothing', async () => {
    const uri = ['-c', 'qemu:///system'];
    await execa('virsh', [...uri, 'destroy', 'vmlab-webserver-web'], { reject: false });
    await execa('virsh', [...uri, 'undefine', '--snapshots-metadata', 'vmlab-webserver-web']);
    const r = await vmlab(['snapshot', 'revert', LAB, 'start']);
    assert.equal(r.exitCode, 2);
    assert.match(String(r.stderr), /web of lab "webserver" are not defined in libvirt \(removed by hand\?\); nothing was changed/);
    const d = await vmlabJson(['down', 'webserver']);
    assert.equal(d.exitCode, 0);
    assert.deepEqual(await libvirtObjects('vmlab-webserver-'), []);
    assert.equal(existsSync('/var/lib/vmlab/labs/webserver'), false);
  });
});
