import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostKsm } from '../../src/host/ksm.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderLab } from '../../src/render/index.js';
import { requireTool, run } from '../helpers/tools.js';
import { loadAssignment } from '../../src/assignment/load.js';
import type { ClassContext } from '../../src/class/context.js';
import { classDown } from '../../src/class/ops.js';
import { CLASS_START, classUp, NEW_HOST_KEYS } from '../../src/class/up.js';
import { loadClass } from '../../src/lab/class-file.js';
import { checkpointStore } from '../../src/lab-ops/checkpoints.js';
import { forkBlocker } from '../../src/lab-ops/fork.js';
import { progressStore } from '../../src/lab-ops/progress.js';
import { snapshotForCopy } from '../../src/libvirt/xml-read.js';
import { classCopies } from '../../src/plan/class-plan.js';
import { planLab } from '../../src/plan/plan.js';
import { fakeRuntime, type FakeLab } from '../helpers/fake-runtime.js';
import { GOLDEN_PLAN_OPTS, planFromText, readLab, root } from '../helpers/lab.js';
import { roomy } from '../helpers/serve-world.js';

function context(w: FakeLab, students: string[], kind: 'assignment' | 'lab'): ClassContext {
  const cls = loadClass(join(root, 'classes', 'pair.yaml'));
  cls.students = students.map((id) => ({ id }));
  const a = loadAssignment(cls.source.file);
  const plan = (l: ClassContext['lab']) => planLab(l, { ...GOLDEN_PLAN_OPTS, paths: w.rt.paths });
  return kind === 'assignment' ? { cls, lab: a.lab, assignment: a, copies: classCopies(cls, a.lab), plan } : { cls, lab: a.lab, copies: classCopies(cls, a.lab), plan };
}

const opts = (w: FakeLab, more: object = {}) => ({ disks: w.disks, bridgeExists: async () => true, timeoutMs: 5000, host: roomy, ...more });

describe('fork: a class in the time of one boot (on fakes)', () => {
  it('class up boots the first copy and forks the others from its stage 1 checkpoint: disks copied with the template paused, every checkpoint redefined, stage 1 entered', async () => {
    const w = fakeRuntime();
    const r = await classUp(w.rt, context(w, ['ana', 'ben', 'cai'], 'assignment'), opts(w));
    assert.deepEqual(r.fork, { used: true, template: 'ana', snapshot: 'start' });
    assert.deepEqual(
      r.students.map((s) => [s.student, s.ok, s.made, s.forkedFrom]),
      [
        ['ana', true, 'boot', undefined],
        ['ben', true, 'fork', 'ana'],
        ['cai', true, 'fork', 'ana'],
      ],
    );
    const ben = w.h.calls.filter((c) => c.includes('quickstart--ben-emu') || c.includes('quickstart--ana-emu'));
    const at = (call: string) => ben.indexOf(call);
    // The template's CPUs stop for the copy of its files and go on after; the copy loads the checkpoint before its CPUs run.
    assert.ok(at('suspend vmlab-quickstart--ana-emu') >= 0 && at('resume vmlab-quickstart--ana-emu') > at('suspend vmlab-quickstart--ana-emu'), ben.join('\n'));
    assert.ok(at('define vmlab-quickstart--ben-emu') < at('start-paused vmlab-quickstart--ben-emu'));
    assert.ok(at('start-paused vmlab-quickstart--ben-emu') < at('snapshot-load vmlab-quickstart--ben-emu start'));
    assert.ok(at('snapshot-load vmlab-quickstart--ben-emu start') < at('resume vmlab-quickstart--ben-emu'));
    assert.ok(!w.h.calls.includes('start vmlab-quickstart--ben-emu'), 'not booted');
    assert.ok(
      w.disks.calls.some((c) => c.startsWith('copy ') && c.endsWith('/labs/quickstart--ben/emu/root.qcow2')),
      w.disks.calls.join('\n'),
    );
    assert.ok(!w.disks.calls.some((c) => c.startsWith('clone ') && c.includes('quickstart--ben')), 'no linked clone: a copy of the template file');
    for (const s of ['ben', 'cai']) {
      const lab = `quickstart--${s}`;
      assert.deepEqual(
        w.h.domains.get(`vmlab-${lab}-para`)!.snapshots.map((x) => x.name),
        w.h.domains.get('vmlab-quickstart--ana-para')!.snapshots.map((x) => x.name),
        'every stage checkpoint, built once',
      );
      assert.deepEqual(
        w.h.domains.get(`vmlab-${lab}-para`)!.snapshots.map((x) => x.createdAt),
        w.h.domains.get('vmlab-quickstart--ana-para')!.snapshots.map((x) => x.createdAt),
      );
      assert.deepEqual(checkpointStore(w.rt.paths.dataDir).read(lab), checkpointStore(w.rt.paths.dataDir).read('quickstart--ana'), 'recorded working as the template');
      assert.equal(progressStore(w.rt.paths.dataDir).read(lab)?.stage, 1);
    }
    assert.equal(w.h.calls.filter((c) => c.startsWith('snapshot-create')).length, 2, "one checkpoint, taken on the template's two VMs only");
    assert.ok(![...w.disks.files].some((f) => f.includes('.vmlab-')), 'no fork marks left');
  });

  it('a class of a lab: the first copy gets the class-start snapshot the others load; a student added later is forked from an existing copy, no boot', async () => {
    const w = fakeRuntime();
    const first = await classUp(w.rt, context(w, ['ana', 'ben'], 'lab'), opts(w));
    assert.deepEqual(
      first.students.map((s) => s.made),
      ['boot', 'fork'],
    );
    assert.deepEqual(
      w.h.domains.get('vmlab-quickstart--ben-emu')!.snapshots.map((s) => s.name),
      [CLASS_START],
    );
    const before = w.h.calls.length;
    const grown = await classUp(w.rt, context(w, ['ana', 'ben', 'cai'], 'lab'), opts(w));
    assert.deepEqual(
      grown.students.map((s) => [s.student, s.upToDate, s.made ?? '-']),
      [
        ['ana', true, '-'],
        ['ben', true, '-'],
        ['cai', false, 'fork'],
      ],
    );
    assert.deepEqual(
      w.h.calls.slice(before).filter((c) => /^(start|snapshot-create) /.test(c)),
      [],
      'nothing booted, no snapshot taken',
    );
  });

  it('--no-fork boots every copy; a lab that cannot be forked boots, and says why', async () => {
    const w = fakeRuntime();
    const r = await classUp(w.rt, context(w, ['ana', 'ben'], 'assignment'), opts(w, { noFork: true }));
    assert.deepEqual(
      r.students.map((s) => s.made),
      ['boot', 'boot'],
    );
    assert.deepEqual(r.fork, { used: false, why: 'class up --no-fork' });
    await classDown(w.rt, 'pair', { disks: w.disks });
    assert.deepEqual([...w.h.domains.keys(), ...w.disks.files], []);

    assert.equal(forkBlocker(planFromText(readLab('labs/quickstart.yaml'))), undefined);
    assert.match(forkBlocker(planFromText(readLab('labs/three-ways.yaml'))) ?? '', /is a container/);
    assert.match(forkBlocker(planFromText(readLab('labs/install-media.yaml'))) ?? '', /provision: none|installs from media/);
  });

  it('a fork killed half-way is made again whole by the next class up; a template left paused is resumed', async () => {
    const w = fakeRuntime();
    const ctx = context(w, ['ana', 'ben'], 'assignment');
    w.h.failOn = (c) => c === 'snapshot-load vmlab-quickstart--ben-para start';
    const r = await classUp(w.rt, ctx, opts(w));
    assert.equal(r.students[1]!.ok, false);
    assert.equal(r.students[1]!.error?.code, 'ERR_VMLAB_FORK_FAILED');
    w.h.failOn = undefined;
    const again = await classUp(w.rt, ctx, opts(w));
    assert.deepEqual(
      again.students.map((s) => [s.student, s.ok, s.made ?? '-']),
      [
        ['ana', true, '-'],
        ['ben', true, 'fork'],
      ],
    );
    // The template paused by a fork that died during its copy.
    w.h.domains.get('vmlab-quickstart--ana-emu')!.state = 'paused';
    w.disks.mark(join(w.rt.paths.dataDir, 'labs', 'quickstart--ana', 'emu', '.vmlab-paused-for-fork'));
    const third = await classUp(w.rt, ctx, opts(w));
    assert.ok(third.students.every((s) => s.ok));
    assert.equal(w.h.domains.get('vmlab-quickstart--ana-emu')!.state, 'running');
  });
});

describe('fork: VM generation ID', () => {
  it("a class copy's domains have <genid/> from their first boot (a fork gives each copy its own); a lab of its own has none", () => {
    const w = fakeRuntime();
    const ctx = context(w, ['ana'], 'lab');
    const copy = renderLab(ctx.plan(ctx.copies[0]!.lab)).vms[0]!.files['domain.xml']!;
    assert.match(copy, /<genid\/>/);
    assert.doesNotMatch(renderLab(planFromText(readLab('labs/quickstart.yaml'))).vms[0]!.files['domain.xml']!, /<genid/);
  });
});

describe('fork: SSH host keys', () => {
  it("host-keys: distinct makes new keys in every guest of each forked copy (not in the booted one); the default keeps the template's", async () => {
    const w = fakeRuntime();
    const ctx = context(w, ['ana', 'ben'], 'lab');
    ctx.cls.hostKeys = 'distinct';
    await classUp(w.rt, ctx, opts(w));
    assert.deepEqual(
      w.guests.execs.filter((e) => e.includes('ssh-keygen')),
      [`emu: /bin/sh -c ${NEW_HOST_KEYS}`, `para: /bin/sh -c ${NEW_HOST_KEYS}`],
    );
    const d = fakeRuntime();
    await classUp(d.rt, context(d, ['ana', 'ben'], 'lab'), opts(d));
    assert.deepEqual(
      d.guests.execs.filter((e) => e.includes('ssh-keygen')),
      [],
    );
    assert.equal(loadClass(join(root, 'classes', 'pair.yaml')).hostKeys, 'shared');
  });
});

describe("fork: a snapshot's metadata for the copy", () => {
  const template = `<domainsnapshot><name>start</name><description>stage 1</description><state>running</state><creationTime>1765000000</creationTime><memory snapshot='internal'/><disks><disk name='vda' snapshot='internal'/></disks><domain type='qemu'><name>vmlab-a-vm</name><uuid>11111111-1111-1111-1111-111111111111</uuid></domain><inactiveDomain type='qemu'><name>vmlab-a-vm</name><uuid>11111111-1111-1111-1111-111111111111</uuid></inactiveDomain><cookie/></domainsnapshot>`;
  const copy = `<?xml version="1.0"?>\n<!-- by vmlab -->\n<domain type='qemu'>\n  <name>vmlab-b-vm</name>\n  <uuid>22222222-2222-2222-2222-222222222222</uuid>\n</domain>\n`;

  it("keeps the name, state and creation time, holds the copy's definition only (never the template's inactive one)", async () => {
    const xml = await snapshotForCopy(template, copy);
    assert.match(xml, /<name>start<\/name>/);
    assert.match(xml, /<creationTime>1765000000<\/creationTime>/);
    assert.match(xml, /<memory snapshot="internal"\/>/);
    assert.ok(xml.includes("<domain type='qemu'>\n  <name>vmlab-b-vm</name>"), xml);
    assert.ok(!xml.includes('1111'), 'nothing of the template');
    assert.ok(!xml.includes('inactiveDomain'));
    await assert.rejects(snapshotForCopy(template, '<network/>'), /not a domain definition/);
  });

  it("passes libvirt's domainsnapshot schema (virt-xml-validate), with a whole rendered domain in it", async () => {
    requireTool('virt-xml-validate', 'libvirt-clients');
    const domain = renderLab(planFromText(readLab('labs/quickstart.yaml'))).vms[1]!.files['domain.xml']!;
    const dir = mkdtempSync(join(tmpdir(), 'vmlab-snap-'));
    const file = join(dir, 'snap.xml');
    writeFileSync(file, await snapshotForCopy(template, domain));
    const r = await run('virt-xml-validate', [file, 'domainsnapshot']);
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  });
});

describe('KSM: turned on when a class is forked, where vmlab may', () => {
  it('reads the kernel state and turns ksmd on once; says so when the kernel has none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmlab-ksm-'));
    assert.deepEqual(hostKsm(join(dir, 'absent')).state(), { available: false, running: false, writable: false, pagesSharing: 0 });
    assert.equal(hostKsm(join(dir, 'absent')).ensureOn(), 'not available');
    writeFileSync(join(dir, 'run'), '0\n');
    writeFileSync(join(dir, 'pages_sharing'), '2560\n');
    const ksm = hostKsm(dir);
    assert.deepEqual(ksm.state(), { available: true, running: false, writable: true, pagesSharing: 2560 });
    assert.equal(ksm.ensureOn(), 'turned on');
    assert.equal(readFileSync(join(dir, 'run'), 'utf8'), '1');
    assert.equal(ksm.ensureOn(), 'already on');
  });

  it('class up reports what forking did to ksmd; a class that boots leaves it alone', async () => {
    const asked: string[] = [];
    const ksm = { state: () => ({ available: true, running: false, writable: true, pagesSharing: 0 }), ensureOn: () => (asked.push('on'), 'turned on' as const) };
    const w = fakeRuntime();
    const r = await classUp(w.rt, context(w, ['ana', 'ben'], 'lab'), opts(w, { ksm }));
    assert.equal(r.fork.ksm, 'turned on');
    const b = fakeRuntime();
    const booted = await classUp(b.rt, context(b, ['ana', 'ben'], 'lab'), opts(b, { ksm, noFork: true }));
    assert.equal(booted.fork.ksm, undefined);
    assert.deepEqual(asked, ['on']);
  });
});
