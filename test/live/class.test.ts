import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import xml2js from 'xml2js';
import { libvirtdPid } from '../../src/host/host-net.js';
import { bridgeNameFor } from '../../src/lab/names.js';
import { root } from '../helpers/lab.js';
import { libvirtObjects, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';

const CLASS = join(root, 'classes', 'pair.yaml');
const STUDENTS = ['ana', 'ben', 'cai'];
const SECOND = join(root, 'labs', 'assignments', 'second-address.yaml');

/** Runs a command in one student's guest (their copy is a lab named quickstart--<student>). */
async function guest(student: string, vm: string, args: string[]) {
  const r = await vmlab(['exec', `quickstart--${student}`, vm, '--', ...args]);
  return { code: r.exitCode ?? -1, out: String(r.stdout), err: String(r.stderr) };
}

async function macOf(domain: string): Promise<string> {
  const r = await execa('virsh', ['-c', 'qemu:///system', 'domiflist', domain]);
  return /([0-9a-f]{2}(:[0-9a-f]{2}){5})/.exec(String(r.stdout))![1]!;
}

const scores = (json: { students: Array<{ student: string; run?: { score: number } }> }) => Object.fromEntries(json.students.map((s) => [s.student, s.run?.score]));

/**
 * A class of three on the quickstart lab (two guests each, six in all):
 * admission, isolated copies at the same addresses, checks per student, one
 * student's reset, and a class down that leaves nothing.
 */
describe('live: a class of three students (class up, check, reset, status, down)', function () {
  this.timeout(30 * 60_000);
  const out = mkdtempSync(join(tmpdir(), 'vmlab-class-'));
  let ksmTurnedOn = false;

  before(async () => {
    await requireLiveHost();
    await vmlab(['class', 'down', CLASS]);
  });

  after(async () => {
    await vmlab(['class', 'down', CLASS]);
    await vmlab(['down', 'quickstart']);
    // The host as it was for the tests after this one: class up turned ksmd on.
    if (ksmTurnedOn) writeFileSync('/sys/kernel/mm/ksm/run', '0');
  });

  it('admission refuses a class that cannot fit, before creating anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmlab-class-big-'));
    const file = join(dir, 'big.yaml');
    writeFileSync(file, `class: big\nassignment: ${JSON.stringify(SECOND)}\nstudents: [a1, a2, a3]\nlimits: { memory: 2GiB }\n`);
    const r = await vmlabJson(['class', 'up', file]);
    assert.equal(r.exitCode, 2, r.stderr);
    assert.equal(r.json.error.code, 'ERR_VMLAB_CLASS_TOO_BIG');
    assert.match(r.json.error.message, /1 of 3 students fit; nothing was created/);
    assert.match(r.json.error.hint, /limits/);
    assert.deepEqual(await libvirtObjects('vmlab-quickstart--a'), []);
  });

  it('up: three isolated copies, each tagged with its student, every guest ready and checkpointed', async () => {
    const t0 = Date.now();
    const r = await vmlabJson(['class', 'up', CLASS]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(
      r.json.students.map((s: { student: string; ok: boolean }) => [s.student, s.ok]),
      STUDENTS.map((s) => [s, true]),
    );
    // One boot; the others forked from it once it worked (its stage checkpoints built once, for the class).
    const { ksm, ...fork } = r.json.fork;
    assert.deepEqual(fork, { used: true, template: 'ana', snapshot: 'start' });
    assert.ok(['turned on', 'already on', 'not available', 'not allowed'].includes(ksm), `ksm: ${ksm}`);
    ksmTurnedOn = ksm === 'turned on';
    assert.deepEqual(
      r.json.students.map((s: { made: string; forkedFrom?: string }) => [s.made, s.forkedFrom ?? '-']),
      [
        ['boot', '-'],
        ['fork', 'ana'],
        ['fork', 'ana'],
      ],
    );
    const secs = r.json.students.map((s: { seconds: number }) => s.seconds.toFixed(1)).join(' s, ');
    process.stdout.write(`      [live] class of 3 (6 guests) up in ${((Date.now() - t0) / 1000).toFixed(0)} s: ana booted, ben and cai forked (${secs} s)\n`);
    for (const s of ['ben', 'cai']) {
      // The copy's kernel saw its VM generation ID change (<genid/>) and reseeded its random numbers.
      const dmesg = await guest(s, 'para', ['dmesg']);
      assert.match(dmesg.out, /crng reseeded due to virtual machine fork/, `${s}'s kernel`);
      const snaps = async (who: string) => String((await execa('virsh', ['-c', 'qemu:///system', 'snapshot-list', `vmlab-quickstart--${who}-para`, '--name'])).stdout).trim();
      assert.equal(await snaps(s), await snaps('ana'), `${s}: the stage checkpoints, copied with the disk`);
    }
    const genids = await Promise.all(
      STUDENTS.map(async (s) => /<genid>([^<]+)<\/genid>/.exec(String((await execa('virsh', ['-c', 'qemu:///system', 'dumpxml', `vmlab-quickstart--${s}-para`])).stdout))?.[1]),
    );
    assert.equal(new Set(genids).size, 3, `a generation ID of its own each: ${genids.join(', ')}`);
    assert.deepEqual((await libvirtObjects('vmlab-quickstart-')).sort(), STUDENTS.flatMap((s) => [`vmlab-quickstart--${s}-emu`, `vmlab-quickstart--${s}-lan`, `vmlab-quickstart--${s}-para`]).sort());
    const xml = String((await execa('virsh', ['-c', 'qemu:///system', 'dumpxml', 'vmlab-quickstart--ben-para'])).stdout);
    assert.match(xml, /lab=["']quickstart--ben["'][^>]* class=["']pair["'] student=["']ben["']/);
    const again = await vmlabJson(['class', 'up', CLASS]);
    assert.ok(
      again.json.students.every((s: { upToDate: boolean }) => s.upToDate),
      'a second class up changes nothing',
    );
  });

  it("copies share addresses but never meet: a student's guest reaches only their own copy", async () => {
    const fix = await guest('ana', 'para', ['ip', 'addr', 'add', '10.10.0.100/24', 'dev', 'eth0']);
    assert.equal(fix.code, 0, fix.err);
    assert.equal((await guest('ana', 'emu', ['ping', '-c', '1', '-W', '3', '10.10.0.100'])).code, 0);
    assert.equal((await guest('ben', 'emu', ['ping', '-c', '1', '-W', '3', '10.10.0.100'])).code, 1, "ben's switch has no 10.10.0.100: ana's copy is not on it");
    for (const s of ['ana', 'cai']) {
      assert.equal((await guest(s, 'emu', ['ping', '-c', '1', '-W', '3', '10.10.0.12'])).code, 0);
      const neigh = await guest(s, 'emu', ['ip', 'neigh', 'show', '10.10.0.12']);
      assert.match(neigh.out, new RegExp(await macOf(`vmlab-quickstart--${s}-para`)), `${s}'s 10.10.0.12 is ${s}'s own para`);
    }
  });

  it('check: one table, every student scored on their own copy; class.csv, report.html and a JUnit file each; exit 3', async () => {
    const r = await vmlabJson(['class', 'check', CLASS, '--out', out]);
    assert.equal(r.exitCode, 3, r.stderr);
    assert.deepEqual(scores(r.json), { ana: 4, ben: 1, cai: 1 });
    const csv = readFileSync(join(out, 'class.csv'), 'utf8').split('\n');
    assert.match(csv[1]!, /^ana,Ana Alves,done,4,4,/, 'ana passed every stage');
    assert.match(csv[2]!, /^ben,"Ben, the second",1,1,4,.*,fail,fail,pass$/);
    assert.deepEqual(readdirSync(join(out, 'junit')).sort(), ['ana.xml', 'ben.xml', 'cai.xml']);
    const junit = await xml2js.parseStringPromise(readFileSync(join(out, 'junit', 'ben.xml'), 'utf8'));
    assert.equal(junit.testsuites.testsuite[0].$.failures, '2');
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /Mean score 2\.0\/4/);
    const one = await vmlabJson(['class', 'check', CLASS, '--student', 'ana', '--out', join(out, 'ana')]);
    assert.equal(one.exitCode, 0);
    assert.deepEqual(scores(one.json), { ana: 4 });
  });

  it("reset of one student: their copy back to the start (autosaved), the others' work untouched", async () => {
    assert.equal((await guest('ben', 'para', ['ip', 'addr', 'add', '10.10.0.100/24', 'dev', 'eth0'])).code, 0);
    const t0 = Date.now();
    const r = await vmlabJson(['class', 'reset', CLASS, '--student', 'ana']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.json.students[0].result.autosave.snapshot, /^autosave-/);
    process.stdout.write(`      [live] class reset of one student (2 guests, autosave included): ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const after = await vmlabJson(['class', 'check', CLASS, '--out', out]);
    assert.deepEqual(scores(after.json), { ana: 1, ben: 4, cai: 1 });
    const status = await vmlabJson(['class', 'status', CLASS]);
    assert.deepEqual(
      status.json.students.map((s: { student: string; ready: number; vms: number; stage: number; lastCheck: { score: number } }) => [s.student, s.ready, s.vms, s.stage, s.lastCheck.score]),
      [
        ['ana', 2, 2, 1, 1],
        ['ben', 2, 2, 1, 4],
        ['cai', 2, 2, 1, 1],
      ],
    );
    assert.ok(
      status.json.students.every((s: { memoryBytes?: number }) => (s.memoryBytes ?? 0) > 256 * 2 ** 20),
      'memory in use is read from the QEMU processes',
    );
  });

  it('down leaves nothing of the class: no domain, network, bridge, disk, socket or stage record', async () => {
    const r = await vmlabJson(['class', 'down', CLASS]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.json.students.length, 3);
    assert.deepEqual(await libvirtObjects('vmlab-quickstart-'), []);
    for (const s of STUDENTS) {
      assert.equal(existsSync(`/var/lib/vmlab/labs/quickstart--${s}`), false);
      assert.equal(existsSync(`/var/lib/vmlab/progress/quickstart--${s}.json`), false);
    }
    assert.deepEqual(
      readdirSync('/run/vmlab').filter((f) => f.includes('quickstart-')),
      [],
    );
    const links = String((await execa('nsenter', [`--net=/proc/${libvirtdPid()}/ns/net`, 'ip', '-br', 'link'])).stdout);
    for (const s of STUDENTS) assert.ok(!links.includes(bridgeNameFor(`quickstart--${s}`, 'lan')), `${s}'s bridge is gone where libvirtd runs`);
  });

  it('assignment verify: second-address proves itself on the quickstart lab', async () => {
    const r = await vmlabJson(['assignment', 'verify', SECOND]);
    assert.equal(r.exitCode, 0, JSON.stringify(r.json.stages?.map((s: { problems: string[] }) => s.problems) ?? r.json));
    assert.equal(r.json.ok, true);
    assert.deepEqual(
      r.json.stages[0].before.map((c: { passed: boolean }) => c.passed),
      [false, false, true],
    );
  });
});
