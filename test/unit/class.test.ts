import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import xml2js from 'xml2js';
import { join } from 'node:path';
import { classCheck, writeClassResults } from '../../src/class/check.js';
import type { ClassContext } from '../../src/class/context.js';
import { classDown, classLabs } from '../../src/class/ops.js';
import { classUp, type HostFacts } from '../../src/class/up.js';
import { classCsv, classHtml, classTable } from '../../src/class/report.js';
import { loadAssignment } from '../../src/assignment/load.js';
import { LabError, VmlabError } from '../../src/errors.js';
import { loadClass, parseClass } from '../../src/lab/class-file.js';
import { parseDomainXml } from '../../src/lab-ops/metadata.js';
import { admit, classCopies, copyNeeds } from '../../src/plan/class-plan.js';
import { planLab } from '../../src/plan/plan.js';
import { GiB } from '../../src/util/units.js';
import { fakeRuntime } from '../helpers/fake-runtime.js';
import { GOLDEN_PLAN_OPTS, labIssues, modelFromText, MINIMAL, readLab, root } from '../helpers/lab.js';
import { upLab } from '../../src/lab-ops/up.js';

const CLASS = join(root, 'classes', 'pair.yaml');
const roomy: HostFacts = { room: (_d, accel) => ({ memoryBytes: 64 * GiB, diskBytes: 500 * GiB, cores: 8, accel }) };

function issuesOf(text: string, files: Record<string, string> = {}) {
  try {
    parseClass(join(root, 'classes', 'x.yaml'), text, (p) => {
      const f = Object.entries(files).find(([k]) => p.endsWith(k));
      if (!f) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return f[1];
    });
  } catch (e) {
    assert.ok(e instanceof LabError, String(e));
    return e.issues;
  }
  assert.fail('accepted');
}

/** The pair class on fakes: its copies planned with the golden host facts. */
function pairContext(students?: string[], paths = GOLDEN_PLAN_OPTS.paths): ClassContext {
  const cls = loadClass(CLASS);
  if (students) cls.students = students.map((id) => ({ id }));
  const assignment = loadAssignment(cls.source.file);
  return { cls, lab: assignment.lab, assignment, copies: classCopies(cls, assignment.lab), plan: (l) => planLab(l, { ...GOLDEN_PLAN_OPTS, paths }) };
}

describe('class files', () => {
  it('the example classes load: roster CSV with a header and quoted names, or an inline list', () => {
    const c = loadClass(CLASS);
    assert.equal(c.name, 'pair');
    assert.equal(c.source.kind, 'assignment');
    assert.deepEqual(c.students, [
      { id: 'ana', name: 'Ana Alves' },
      { id: 'ben', name: 'Ben, the second' },
      { id: 'cai', name: 'Cai Chen' },
    ]);
    assert.equal(c.limits.parallelBoots, 3);
    const net = loadClass(join(root, 'classes', 'net-2026.yaml'));
    assert.deepEqual(
      net.students.map((s) => s.id),
      ['ana', 'ben', 'cai', 'dan'],
    );
    assert.equal(net.limits.memoryBytes, 20 * GiB);
  });

  it('errors name the file, line and path: unknown keys, bad ids, both or neither of lab and assignment, a bad roster line', () => {
    const typo = issuesOf('class: c\nlab: ../labs/quickstart.yaml\nstudents: [ana]\nlimts: {}\n');
    assert.equal(typo[0]!.path, 'limts');
    assert.match(typo[0]!.hint!, /did you mean "limits"/);
    assert.equal(typo[0]!.line, 4);
    assert.match(issuesOf('class: c\nstudents: [ana]\n')[0]!.message, /needs "assignment:" or "lab:"/);
    assert.match(issuesOf('class: c\nlab: ../labs/quickstart.yaml\nassignment: ../labs/assignments/web-port.yaml\nstudents: [ana]\n')[0]!.message, /not both/);
    assert.match(issuesOf('class: c\nlab: ../labs/nope.yaml\nstudents: [ana]\n')[0]!.message, /no such file/);
    assert.match(issuesOf('class: c\nlab: ../labs/quickstart.yaml\nstudents: [ana, ana]\n')[0]!.message, /listed twice/);
    const roster = issuesOf('class: c\nlab: ../labs/quickstart.yaml\nstudents: r.csv\n', { 'r.csv': 'id,name\nana,Ana\n\n# a comment\nBad Id,Someone\n' });
    assert.equal(roster[0]!.file.endsWith('r.csv'), true);
    assert.equal(roster[0]!.line, 5);
    assert.match(roster[0]!.hint!, /at most 12 characters/);
    assert.match(issuesOf('class: c\nlab: ../labs/quickstart.yaml\nstudents: missing.csv\n')[0]!.message, /cannot read the roster/);
  });
});

describe('class plan: a copy per student', () => {
  it("copies are named and tagged with the student, keep the lab's addresses, and get bridges of their own within 15 characters", () => {
    const ctx = pairContext();
    const plans = ctx.copies.map((c) => ctx.plan(c.lab));
    assert.deepEqual(
      plans.map((p) => p.vms.map((v) => v.domainName)),
      [
        ['vmlab-quickstart--ana-emu', 'vmlab-quickstart--ana-para'],
        ['vmlab-quickstart--ben-emu', 'vmlab-quickstart--ben-para'],
        ['vmlab-quickstart--cai-emu', 'vmlab-quickstart--cai-para'],
      ],
    );
    const bridges = plans.map((p) => p.networks[0]!.bridge);
    assert.equal(new Set(bridges).size, 3);
    for (const b of bridges) assert.ok(b.length <= 15, b);
    const addresses = plans.map((p) => p.vms[1]!.nics[0]!.address);
    assert.deepEqual(addresses[0], addresses[2]);
    // The MACs too: a forked copy has its template's NICs in its memory state (lab-ops/fork.ts).
    const macs = plans.map((p) => p.vms.map((v) => v.nics[0]!.mac));
    assert.deepEqual(macs[1], macs[0]);
    assert.deepEqual(macs[2], macs[0]);
    assert.deepEqual(
      macs[0],
      planLab(ctx.lab, { ...GOLDEN_PLAN_OPTS, paths: { dataDir: '/d', runDir: '/r' } }).vms.map((v) => v.nics[0]!.mac),
      "the lab's own",
    );
    const taps = plans.map((p) => p.vms[0]!.nics[0]!.tap);
    assert.equal(new Set(taps).size, 3, 'but taps of their own');
  });

  it('refuses an unknown --student with the roster, and a lab whose networks would join the copies', () => {
    const ctx = pairContext();
    assert.throws(
      () => classCopies(ctx.cls, ctx.lab, 'zed'),
      (e: VmlabError) => e.code === 'ERR_VMLAB_STUDENT_UNKNOWN' && /ana, ben, cai/.test(e.hint!),
    );
    const nat = modelFromText(MINIMAL.replace('    subnet: 10.0.0.0/24', '    mode: nat\n    subnet: 10.0.0.0/24'));
    assert.throws(
      () => classCopies(ctx.cls, nat),
      (e: VmlabError) => e.code === 'ERR_VMLAB_CLASS_NETWORK' && e.exitCode === 2,
    );
    const hosted = modelFromText(MINIMAL.replace('    subnet: 10.0.0.0/24', '    subnet: 10.0.0.0/24\n    host-address: 10.0.0.1'));
    assert.throws(
      () => classCopies(ctx.cls, hosted),
      (e: VmlabError) => e.code === 'ERR_VMLAB_CLASS_NETWORK' && e.exitCode === 2 && /host-address/.test(e.message),
    );
  });

  it('copy names cannot collide across classes (lab "web" + student "x-y" vs lab "web-x" + student "y"); up checks the owner, not only the name', async () => {
    const web = modelFromText(readLab('labs/quickstart.yaml').replace('name: quickstart', 'name: web'));
    const webx = modelFromText(readLab('labs/quickstart.yaml').replace('name: quickstart', 'name: web-x'));
    const a = classCopies({ ...pairContext().cls, name: 'one', students: [{ id: 'x-y' }] }, web)[0]!;
    const b = classCopies({ ...pairContext().cls, name: 'two', students: [{ id: 'y' }] }, webx)[0]!;
    assert.deepEqual([a.lab.name, b.lab.name], ['web--x-y', 'web-x--y']);
    assert.deepEqual(
      labIssues(readLab('labs/quickstart.yaml').replace('name: quickstart', 'name: web--x')).map((i) => i.split(':')[0]),
      ['name'],
    );
    assert.throws(() => parseClass('c.yaml', 'class: c\nlab: ../labs/quickstart.yaml\nstudents: [a--b]\n'), LabError);
    // The same lab name under another owner (a copy another class made): nothing is touched.
    const { rt, disks, h } = fakeRuntime();
    await upLab(rt, planLab(a.lab, { ...GOLDEN_PLAN_OPTS, paths: rt.paths }), { disks, bridgeExists: async () => true, timeoutMs: 5000 });
    const before = h.calls.length;
    const stranger = { ...a.lab, owner: { class: 'two', student: 'x-y' } };
    await assert.rejects(upLab(rt, planLab(stranger, { ...GOLDEN_PLAN_OPTS, paths: rt.paths }), { disks, bridgeExists: async () => true, timeoutMs: 5000 }), (e: VmlabError) => {
      assert.equal(e.code, 'ERR_VMLAB_PREFLIGHT');
      assert.match(e.message, /vmlab-web--x-y-emu belongs to student "x-y" of class "one", not student "x-y" of class "two"/);
      return true;
    });
    assert.equal(h.calls.length, before, 'nothing created or changed');
  });

  it('admission counts a guest as measured on this host when bench:class measured it (never under half its RAM), else by the estimate; it says which', () => {
    const ctx = pairContext();
    const MiB = 2 ** 20;
    const measured = { accel: 'tcg' as const, guestBytes: 512 * MiB, residentBytes: 620 * MiB, samples: 16, at: '2026-12-08T01:00:00Z', source: 'npm run bench:class' };
    const m = copyNeeds(ctx.lab, 'tcg', 1, measured);
    assert.equal(m.memoryBytes, 2 * 620 * MiB);
    assert.match(m.counted, /idle 512 MiB tcg guest was measured on this host \(620 MiB resident, median of 16/);
    assert.equal(copyNeeds(ctx.lab, 'kvm', 1, measured).memoryBytes, 2 * (512 + 96) * MiB, 'a figure of another accel is not used');
    assert.match(copyNeeds(ctx.lab, 'kvm', 1, measured).counted, /an estimate/);
    assert.equal(copyNeeds(ctx.lab, 'tcg', 1, { ...measured, residentBytes: 100 * MiB }).memoryBytes, 2 * 256 * MiB);
  });

  it('admission: how many students fit, by memory, disk and the class limits', () => {
    const ctx = pairContext();
    const needs = copyNeeds(ctx.lab, 'tcg', 1);
    assert.equal(needs.memoryBytes, 2 * 512 * 2 ** 20 + 2 * 320 * 2 ** 20);
    const small = admit(ctx.cls, needs, { memoryBytes: 6 * GiB, diskBytes: 100 * GiB, cores: 2, accel: 'tcg' }, 3, 0);
    // 6 GiB less a 2 GiB reserve = 4 GiB: two copies of 1.6 GiB.
    assert.equal(small.fits, false);
    assert.equal(small.fitStudents, 2);
    assert.match(small.reasons.join(' '), /memory: 3 more copies need 4\.9 GiB, the host can give 4\.0 GiB/);
    const limited = admit({ ...ctx.cls, limits: { memoryBytes: 4 * GiB } }, needs, { memoryBytes: 64 * GiB, diskBytes: 100 * GiB, cores: 2, accel: 'tcg' }, 1, 1);
    assert.equal(limited.fits, true);
    assert.equal(admit({ ...ctx.cls, limits: { memoryBytes: 4 * GiB } }, needs, { memoryBytes: 64 * GiB, diskBytes: 100 * GiB, cores: 2, accel: 'tcg' }, 2, 1).fitStudents, 2);
    assert.equal(admit({ ...ctx.cls, limits: {} }, needs, { memoryBytes: 64 * GiB, diskBytes: 100 * GiB, cores: 2, accel: 'tcg' }, 3, 0).parallelBoots, 1);
  });
});

describe('class operations on fakes', () => {
  it('up: admission refuses a class that does not fit before anything is created', async () => {
    const { h, rt, disks } = fakeRuntime();
    const tight: HostFacts = { room: (_d, accel) => ({ memoryBytes: 4 * GiB, diskBytes: 500 * GiB, cores: 2, accel }) };
    await assert.rejects(
      classUp(rt, pairContext(), { disks, bridgeExists: async () => true, host: tight, timeoutMs: 5000 }),
      (e: VmlabError) => e.code === 'ERR_VMLAB_CLASS_TOO_BIG' && /1 of 3 students fit; nothing was created/.test(e.message) && e.exitCode === 2,
    );
    assert.deepEqual(h.calls, []);
    assert.deepEqual(disks.calls, []);
  });

  it('up makes a tagged copy per student; a second up does nothing; a student added gets a copy, one removed is left alone; down leaves nothing', async () => {
    const { h, rt, disks } = fakeRuntime();
    const up = (students: string[]) => classUp(rt, pairContext(students, rt.paths), { disks, bridgeExists: async () => true, host: roomy, timeoutMs: 5000 });
    const first = await up(['ana', 'ben']);
    assert.deepEqual(
      first.students.map((s) => [s.student, s.ok, s.upToDate]),
      [
        ['ana', true, false],
        ['ben', true, false],
      ],
    );
    assert.equal(h.domains.size, 4);
    const meta = (await parseDomainXml(h.domains.get('vmlab-quickstart--ben-para')!.xml)).meta!;
    assert.deepEqual([meta.lab, meta.owner], ['quickstart--ben', { class: 'pair', student: 'ben' }]);
    // Every student's checkpoint, and stage 1 recorded.
    assert.deepEqual(
      h.domains.get('vmlab-quickstart--ana-emu')!.snapshots.map((s) => s.name),
      ['start'],
    );

    const again = await up(['ana', 'ben']);
    assert.ok(again.students.every((s) => s.upToDate));

    const before = h.calls.length;
    const grown = await up(['ana', 'ben', 'cai']);
    assert.deepEqual(
      h.calls.slice(before).filter((c) => c.startsWith('define')),
      ['define vmlab-quickstart--cai-emu', 'define vmlab-quickstart--cai-para'],
    );
    assert.deepEqual(grown.notInRoster, []);
    const shrunk = await up(['ana', 'cai']);
    assert.deepEqual(shrunk.notInRoster, [{ student: 'ben', lab: 'quickstart--ben' }]);
    assert.ok(h.domains.has('vmlab-quickstart--ben-emu'), 'a student removed from the roster keeps their lab until class down');
    assert.deepEqual([...(await classLabs(rt, 'pair')).keys()].sort(), ['ana', 'ben', 'cai']);

    const one = await classDown(rt, 'pair', { disks, student: 'ben' });
    assert.deepEqual(
      one.map((r) => r.domains.length),
      [2],
    );
    assert.ok(h.domains.has('vmlab-quickstart--ana-emu'));
    await classDown(rt, 'pair', { disks });
    assert.deepEqual([...h.domains.keys()], []);
    assert.deepEqual([...h.networks.keys()], []);
    assert.deepEqual([...disks.files], []);
  });

  it("check: one table of every student's checks, with CSV, HTML and JUnit; a failing student fails only their own row", async () => {
    const { rt, disks, guests } = fakeRuntime();
    const ctx = pairContext();
    await classUp(rt, ctx, { disks, bridgeExists: async () => true, host: roomy, timeoutMs: 5000 });
    // Only ana's para has the second address (the fake guests answer by VM name; the domain tells the student).
    guests.respond = (vm, path, args) => {
      if (path === 'ping') return { exitCode: 1 };
      if (path === 'ip' && args.includes('eth0')) return { exitCode: 0, stdout: '2: eth0 inet 10.10.0.12/24 brd 10.10.0.255' };
      return { exitCode: 0 };
    };
    const r = await classCheck(rt, ctx, { parallel: 2 });
    assert.deepEqual(
      r.students.map((s) => [s.student, s.run!.score, s.run!.failed]),
      [
        ['ana', 1, 2],
        ['ben', 1, 2],
        ['cai', 1, 2],
      ],
    );
    const table = classTable(r);
    assert.match(table, /^ana\s+1\/4\s+✗\s+✗\s+✓$/m);
    assert.match(table, /3\. para keeps its first address: passed by 3\/3/);
    const csv = classCsv(r).split('\n');
    assert.equal(csv[0], "student,name,stage,score,max_score,checked_at,rescued_from,emu reaches 10.10.0.100,the address is on para's eth0,para keeps its first address");
    assert.match(csv[2]!, /^ben,"Ben, the second",/);
    const files = writeClassResults(join(rt.paths.dataDir, 'out'), r);
    assert.deepEqual(
      files.map((f) => f.slice(rt.paths.dataDir.length)),
      ['/out/class.json', '/out/class.csv', '/out/report.html', '/out/junit/ana.xml', '/out/junit/ben.xml', '/out/junit/cai.xml'],
    );
  });

  it("one student's guest printing what XML cannot hold (control characters) breaks nobody's results: every file is written, the JUnit parses", async () => {
    const { rt, disks, guests } = fakeRuntime();
    const ctx = pairContext();
    await classUp(rt, ctx, { disks, bridgeExists: async () => true, host: roomy, timeoutMs: 5000 });
    // Every C0 control character but tab, LF and CR, and DEL, in a failing check's output (a student can print anything).
    const nasty = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + '\x7f\ud800';
    guests.respond = (_vm, path) => (path === 'ping' ? { exitCode: 1, stdout: nasty, stderr: `\x1b[31m${nasty}` } : { exitCode: 0 });
    const r = await classCheck(rt, ctx, { parallel: 2 });
    const dir = join(rt.paths.dataDir, 'out');
    const files = writeClassResults(dir, r);
    assert.equal(files.length, 6, files.join());
    for (const s of ['ana', 'ben', 'cai']) {
      const xml = readFileSync(join(dir, 'junit', `${s}.xml`), 'utf8');
      const parsed = await xml2js.parseStringPromise(xml);
      assert.equal(parsed.testsuites.testsuite[0].testcase.length, 3);
      assert.match(xml, /\\x1b\[31m\\x00\\x01/, 'shown as escapes the teacher can read');
    }
  });

  it('reports escape what students and teachers wrote: HTML as text, CSV formulas as text', () => {
    const r = {
      class: 'c',
      title: '<script>alert(1)</script>',
      assignment: 'a',
      checkedAt: 'now',
      stages: 1,
      checks: [{ name: '<b>x</b>', stage: 1, points: 1 }],
      students: [{ student: 'ana', name: '=HYPERLINK("http://evil")', lab: 'l' }],
    };
    const html = classHtml(r);
    assert.ok(!html.includes('<script>'));
    assert.match(html, /&lt;script&gt;/);
    assert.match(classCsv(r), /"'=HYPERLINK\(""http:\/\/evil""\)"/);
  });
});

describe('the pair class file', () => {
  it("names the quickstart lab's assignment", () => {
    assert.match(readLab('classes/pair.yaml'), /assignment: \.\.\/labs\/assignments\/second-address\.yaml/);
  });
});
