import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStringPromise } from 'xml2js';
import { loadAssignment, parseAssignment } from '../../src/assignment/load.js';
import { judge, summarise, toHtml, toJunit, toMarkdown } from '../../src/assignment/results.js';
import { LabError, type VmlabError } from '../../src/errors.js';
import { createRuntime } from '../../src/lab-ops/runtime.js';
import { createLabSnapshot, listLabSnapshots, revertLabSnapshot, snapshotTargets } from '../../src/lab-ops/snapshots.js';
import { renderLab } from '../../src/render/index.js';
import { FakeTrafficControl } from '../helpers/fake-runtime.js';
import { FakeHypervisor } from '../helpers/fake-hypervisor.js';
import { planFromText, readLab, root } from '../helpers/lab.js';

const WEB_PORT = join(root, 'labs', 'assignments', 'web-port.yaml');
const text = readFileSync(WEB_PORT, 'utf8');

function issuesOf(src: string) {
  try {
    parseAssignment(WEB_PORT, src);
  } catch (e) {
    assert.ok(e instanceof LabError, String(e));
    return e.issues;
  }
  assert.fail('accepted');
}

describe('assignment files', () => {
  it('the example assignments load, and name VMs of their labs', () => {
    for (const f of ['web-port.yaml', 'lan-firewall.yaml']) {
      const a = loadAssignment(join(root, 'labs', 'assignments', f));
      assert.ok(a.checks.length >= 3, f);
      for (const c of a.checks)
        assert.ok(
          a.lab.vms.some((v) => v.name === c.vm),
          `${f}: ${c.vm}`,
        );
      assert.equal(a.checkpoint, 'start');
    }
  });

  it('errors name line:column, the path and a hint, like lab files', () => {
    const [i] = issuesOf(text.replace('    vm: web\n    run: [nginx', '    vm: wbe\n    run: [nginx'));
    assert.equal(i!.path, 'checks[3].vm');
    assert.match(i!.message, /no VM "wbe"/);
    assert.equal(i!.hint, 'its VMs: web');
    assert.ok(i!.line! > 20 && i!.column! > 1, JSON.stringify(i));
    const all = issuesOf(text.replace('expect: { output: "^200$" }', 'expect: { output: "(" }').replace('checkpoint: start', 'checkpoint: "no good"').replace('points: 3', 'pionts: 3'));
    const paths = all.map((x) => `${x.path}: ${x.message}`);
    assert.ok(
      paths.some((p) => /^checks\[0\]\.expect\.output: is not a regular expression/.test(p)),
      paths.join('\n'),
    );
    assert.ok(
      paths.some((p) => /^checkpoint: /.test(p)),
      paths.join('\n'),
    );
    assert.ok(
      all.some((x) => x.path === 'checks[0].pionts' && /did you mean "points"/.test(x.hint ?? '')),
      paths.join('\n'),
    );
  });

  it('a missing lab file, a shell string as run, and no expectation are rejected', () => {
    const paths = issuesOf(text.replace('lab: ../webserver.yaml', 'lab: ../nope.yaml').replace('run: [nginx, -t]', 'run: "nginx -t"').replace('expect: { exit: 0 }', 'expect: {}')).map((x) => x.path);
    assert.deepEqual(paths.sort(), ['checks[3].expect', 'checks[3].run', 'lab']);
  });
});

describe('assignment results', () => {
  const a = loadAssignment(WEB_PORT);
  const ok = { exitCode: 0, stdout: '200', stderr: '' };

  it('judges exit code, output pattern and output-not', () => {
    assert.equal(judge(a.checks[0]!, ok, 5).passed, true);
    const r = judge(a.checks[0]!, { exitCode: 7, stdout: '000', stderr: 'refused' }, 5);
    assert.equal(r.passed, false);
    assert.equal(r.earned, 0);
    assert.match(r.message!, /nothing answers on port 8080/);
    assert.match(r.detail!, /output does not match/);
    const nginx = judge(a.checks[3]!, { exitCode: 1, stdout: '', stderr: '' }, 1);
    assert.match(nginx.detail!, /exit code 1, expected 0/);
    const neg = judge({ ...a.checks[0]!, expect: { outputNot: 'bad' } }, { exitCode: 0, stdout: 'a\nbad\n', stderr: '' }, 1);
    assert.equal(neg.passed, false);
    assert.equal(judge(a.checks[0]!, { exitCode: null, stdout: '', stderr: '', error: 'VM web is shutoff' }, 1).detail, 'VM web is shutoff');
  });

  it('JUnit XML parses back with counts, score and escaped messages; Markdown and HTML escape too', async () => {
    const results = [judge(a.checks[0]!, { exitCode: 1, stdout: '<&"\'>', stderr: '' }, 10), judge(a.checks[2]!, ok, 20)];
    const run = summarise(a, results, new Date(0));
    assert.equal(run.score, 1);
    assert.equal(run.maxScore, 4);
    const doc = await parseStringPromise(toJunit(run));
    const suite = doc.testsuites.testsuite[0];
    assert.equal(suite.$.tests, '2');
    assert.equal(suite.$.failures, '1');
    assert.equal(suite.properties[0].property[0].$.value, '1/4');
    assert.equal(suite.testcase[0].$.classname, 'web-port.web');
    assert.match(suite.testcase[0].failure[0]._, /<&"'>/);
    assert.equal(suite.testcase[1].failure, undefined);
    const md = toMarkdown({ ...run, checks: [{ ...results[0]!, name: 'a | b' }] });
    assert.match(md, /\| a \\\| b \|/);
    assert.doesNotMatch(toHtml({ ...run, title: '<script>' }), /<script>/);
  });
});

describe('lab snapshots (orchestration on a fake hypervisor)', () => {
  const plan = planFromText(readLab('labs/quickstart.yaml'), 'labs/quickstart.yaml');
  const setup = () => {
    const h = new FakeHypervisor();
    for (const vm of renderLab(plan).vms) {
      const dn = plan.vms.find((v) => v.name === vm.name)!.domainName;
      h.domains.set(dn, { xml: vm.files['domain.xml'], state: 'running', snapshots: [] });
    }
    return { h, rt: { ...createRuntime(h, { dataDir: mkdtempSync(join(tmpdir(), 'vmlab-snap-')), runDir: '/tmp' }), tc: new FakeTrafficControl() } };
  };

  it('create takes the snapshot on every VM; list shows it complete', async () => {
    const { h, rt } = setup();
    const targets = await snapshotTargets(rt, 'quickstart', plan);
    await createLabSnapshot(rt, 'quickstart', targets, 'start');
    const [s] = await listLabSnapshots(rt, targets);
    assert.deepEqual([s!.name, s!.complete, s!.memory, s!.vms], ['start', true, true, ['emu', 'para']]);
    assert.equal(h.calls.filter((c) => c.startsWith('snapshot-create')).length, 2);
  });

  it('an incomplete snapshot is reported and never half-reverted', async () => {
    const { h, rt } = setup();
    const targets = await snapshotTargets(rt, 'quickstart', plan);
    await h.createSnapshot('vmlab-quickstart-emu', 'half', '');
    const [s] = await listLabSnapshots(rt, targets);
    assert.deepEqual([s!.complete, s!.missingOn], [false, ['para']]);
    await assert.rejects(revertLabSnapshot(rt, 'quickstart', targets, 'half'), /incomplete: para lack\(s\) it; nothing was reverted/);
    assert.ok(!h.calls.some((c) => c.startsWith('snapshot-revert')));
  });

  it('a VM removed by hand: clear error before anything is done', async () => {
    const { h, rt } = setup();
    h.domains.delete('vmlab-quickstart-para');
    await assert.rejects(snapshotTargets(rt, 'quickstart', plan), /para of lab "quickstart" are not defined in libvirt \(removed by hand\?\); nothing was changed/);
    assert.deepEqual(h.calls, []);
  });

  it('a failure on one VM deletes the snapshot from the others again', async () => {
    const { h, rt } = setup();
    h.failOn = (c) => c === 'snapshot-create vmlab-quickstart-para cp';
    const targets = await snapshotTargets(rt, 'quickstart', plan);
    await assert.rejects(createLabSnapshot(rt, 'quickstart', targets, 'cp'), /failed on para/);
    assert.deepEqual(await listLabSnapshots(rt, targets), []);
  });

  it('a revert that fails on one VM after the others succeeded says which VM is where and how to finish', async () => {
    const { h, rt } = setup();
    const targets = await snapshotTargets(rt, 'quickstart', plan);
    await createLabSnapshot(rt, 'quickstart', targets, 'cp');
    // Both ways back fail on para: QEMU's loadvm in place, then libvirt's revert.
    h.failOn = (c) => (/^snapshot-(load|revert) vmlab-quickstart-para cp$/.test(c) ? "internal error: unable to execute QEMU command 'loadvm'" : undefined);
    const err = await revertLabSnapshot(rt, 'quickstart', targets, 'cp').then(
      () => assert.fail('reverted'),
      (e: VmlabError) => e,
    );
    assert.equal(err.code, 'ERR_VMLAB_SNAPSHOT_REVERT_PARTIAL');
    assert.match(err.message, /reverted emu; FAILED on para: internal error: unable to execute QEMU command 'loadvm'/);
    assert.equal(err.hint, 'the failed VMs are where they were; when the cause is fixed, finish with vmlab snapshot revert quickstart cp --vm para (a revert can be repeated)');
    assert.deepEqual(err.details, { reverted: ['emu'], failed: [{ vm: 'para', error: "internal error: unable to execute QEMU command 'loadvm'" }] });
  });

  it("with a snapshot to roll back to (reset's autosave), a failed revert puts every VM back: all or nothing", async () => {
    const { h, rt } = setup();
    const targets = await snapshotTargets(rt, 'quickstart', plan);
    await createLabSnapshot(rt, 'quickstart', targets, 'start');
    await createLabSnapshot(rt, 'quickstart', targets, 'autosave-1');
    h.failOn = (c) => /^snapshot-(load|revert) vmlab-quickstart-emu start$/.test(c);
    h.calls.length = 0;
    await assert.rejects(revertLabSnapshot(rt, 'quickstart', targets, 'start', { rollbackTo: 'autosave-1' }), (e: VmlabError) => {
      assert.equal(e.code, 'ERR_VMLAB_SNAPSHOT_REVERT_FAILED');
      assert.match(e.message, /failed on emu .*; every VM was put back to "autosave-1", as before the revert/);
      return true;
    });
    assert.deepEqual(h.calls.filter((c) => c.includes('autosave-1')).sort(), ['snapshot-revert vmlab-quickstart-emu autosave-1', 'snapshot-revert vmlab-quickstart-para autosave-1']);
  });

  it('a running VM goes back inside its running QEMU (loadvm); when that fails, libvirt starts a new QEMU from the snapshot', async () => {
    const { h, rt } = setup();
    const targets = await snapshotTargets(rt, 'quickstart', plan);
    await createLabSnapshot(rt, 'quickstart', targets, 'cp');
    h.calls.length = 0;
    const live = await revertLabSnapshot(rt, 'quickstart', targets, 'cp');
    assert.deepEqual(h.calls.sort(), ['snapshot-load vmlab-quickstart-emu cp', 'snapshot-load vmlab-quickstart-para cp']);
    assert.match(live.vms[0]!.method!, /resumed, no boot \(loaded in the running QEMU\)/);
    h.failOn = (c) => (c === 'snapshot-load vmlab-quickstart-para cp' ? 'Error: Device ide0-cd0 is writable but does not support snapshots' : undefined);
    h.calls.length = 0;
    const mixed = await revertLabSnapshot(rt, 'quickstart', targets, 'cp');
    assert.ok(h.calls.includes('snapshot-revert vmlab-quickstart-para cp'));
    assert.match(mixed.vms[1]!.method!, /a new QEMU; loadvm failed: Error: Device ide0-cd0/);
    h.failOn = undefined;
    h.calls.length = 0;
    await revertLabSnapshot(rt, 'quickstart', targets, 'cp', { method: 'restart' });
    assert.deepEqual(h.calls.sort(), ['snapshot-revert vmlab-quickstart-emu cp', 'snapshot-revert vmlab-quickstart-para cp']);
  });

  it('raw data disks and UEFI guests are refused before anything is done', async () => {
    const { h, rt } = setup();
    const d = h.domains.get('vmlab-quickstart-emu')!;
    d.xml = d.xml.replace('<os>', "<os><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>");
    await assert.rejects(snapshotTargets(rt, 'quickstart', plan), /pflash.*before 10\.9/);
    const raw = planFromText(readLab('labs/quickstart.yaml').replace('    profile: virtio    #', '    disks: [{ size: 1GiB, format: raw }]\n    profile: virtio    #'), 'labs/quickstart.yaml');
    const { h: h2, rt: rt2 } = setup();
    h2.domains.get('vmlab-quickstart-para')!.xml = renderLab(raw).vms.find((v) => v.name === 'para')!.files['domain.xml'];
    await assert.rejects(snapshotTargets(rt2, 'quickstart', raw), /disk vdb is raw: internal snapshots live inside qcow2/);
    assert.deepEqual(h2.calls, []);
  });
});
