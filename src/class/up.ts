import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { enterStage, startAssignment } from '../assignment/ops.js';
import { errorReport, VmlabError, type ErrorReport } from '../errors.js';
import { cores, diskFreeBytes, memAvailableBytes } from '../host/host-room.js';
import type { Ksm } from '../host/ksm.js';
import { copyCheckpointRecords, forkBlocker, halfForked, type ForkSource } from '../lab-ops/fork.js';
import type { LabRuntime } from '../lab-ops/runtime.js';
import { createLabSnapshot, listLabSnapshots, snapshotTargets } from '../lab-ops/snapshots.js';
import { upLab, type UpOptions, type UpResult } from '../lab-ops/up.js';
import { admit, copyNeeds, type Admission, type HostRoom, type MeasuredGuest } from '../plan/class-plan.js';
import type { Plan } from '../plan/plan.js';
import type { Accel } from '../profiles/index.js';
import { mapLimit } from '../util/pool.js';
import { studentAssignment, type ClassContext } from './context.js';
import { classLabs } from './ops.js';
import type { StudentCopy } from '../plan/class-plan.js';

/** The snapshot of a class's first copy, working, that the others are forked from (a class of a lab; an assignment's stage 1 checkpoint plays this part). */
export const CLASS_START = 'class-start';

export interface StudentUp {
  student: string;
  lab: string;
  ok: boolean;
  /** Nothing to do: the copy was up and ready already. */
  upToDate: boolean;
  /** How this run made the copy: booted, or forked from another student's (`forkedFrom`); absent when it was there already. */
  made?: 'boot' | 'fork';
  forkedFrom?: string;
  seconds: number;
  vms: number;
  error?: ErrorReport;
}

export interface ClassUpResult {
  class: string;
  admission: Admission;
  /** Whether new copies were forked from a working one, and if not why not. */
  fork: { used: boolean; why?: string; template?: string; snapshot?: string; /** What forking did to ksmd, which merges the copies' identical memory. */ ksm?: string };
  students: StudentUp[];
  /** Copies in libvirt of students the roster no longer lists: left alone. */
  notInRoster: Array<{ student: string; lab: string }>;
  seconds: number;
}

export interface HostFacts {
  room(dataDir: string, accel: Accel): HostRoom;
}

export const hostFacts: HostFacts = {
  room: (dataDir, accel) => {
    const measured = measuredGuest(dataDir);
    return { memoryBytes: memAvailableBytes(), diskBytes: diskFreeBytes(dataDir), cores: cores(), accel, ...(measured ? { measured } : {}) };
  },
};

/** Where bench:class keeps what an idle guest cost this host (admission reads it). */
export const measuredGuestFile = (dataDir: string) => join(dataDir, 'measured', 'guest-memory.json');

function measuredGuest(dataDir: string): MeasuredGuest | undefined {
  try {
    const m = JSON.parse(readFileSync(measuredGuestFile(dataDir), 'utf8')) as MeasuredGuest;
    return m.residentBytes > 0 && m.guestBytes > 0 ? m : undefined;
  } catch {
    return undefined;
  }
}

export interface ClassUpOptions extends UpOptions {
  host?: HostFacts;
  /** ksmd, turned on when a class is forked (host/ksm.ts); none: left as it is. */
  ksm?: Ksm;
  onStudent?: (student: string, what: string) => void;
  /** Boot every new copy instead of forking it from a working one. */
  noFork?: boolean;
}

type Planned = { copy: StudentCopy; plan: Plan };

/**
 * One copy of the lab per student. Copies that exist converge through the same `up` (and
 * assignment start) as a single lab. New ones are forked (lab-ops/fork.ts) from a working copy:
 * one that has the class's start snapshot, or else the first new one, booted for it; where a lab
 * cannot be forked (forkBlocker), every new copy boots, at most `parallel-boots` at once. The class
 * is admitted first: if the copies still to make do not fit (memory, disk, the class's limits),
 * nothing is created. Idempotent: copies that are up are left as they are.
 */
export async function classUp(rt: LabRuntime, ctx: ClassContext, opts: ClassUpOptions): Promise<ClassUpResult> {
  const t0 = Date.now();
  const existing = await classLabs(rt, ctx.cls.name);
  const roster = new Set(ctx.cls.students.map((s) => s.id));
  const notInRoster = [...existing].filter(([s]) => !roster.has(s)).map(([student, lab]) => ({ student, lab }));
  const plans = ctx.copies.map((c) => ({ copy: c, plan: ctx.plan(c.lab) }));
  const blocker = opts.noFork ? 'class up --no-fork' : plans.length ? forkBlocker(plans[0]!.plan) : undefined;
  const accel = plans.some((p) => p.plan.vms.some((v) => v.accel.name === 'tcg')) ? 'tcg' : 'kvm';
  // A forked class of a lab keeps its start snapshot (a memory state) in every copy: one checkpoint more.
  const room = (opts.host ?? hostFacts).room(rt.paths.dataDir, accel);
  const needs = copyNeeds(ctx.lab, accel, ctx.assignment?.stages.length ?? (blocker ? 0 : 1), room.measured);
  // A copy whose fork was killed half-way is made again (its `up` removes what is left of it).
  const pending = plans.filter((p) => !existing.has(p.copy.student.id) || halfForked(opts.disks, p.plan));
  const admission = admit(ctx.cls, needs, room, pending.length, plans.length - pending.length);
  if (!admission.fits) {
    throw new VmlabError(
      'ERR_VMLAB_CLASS_TOO_BIG',
      `class "${ctx.cls.name}" does not fit on this host: ${admission.fitStudents} of ${admission.wanted} students fit; nothing was created\n  ${admission.reasons.join('\n  ')}`,
      {
        kind: 'user',
        hint: `run fewer students (--student ID, or a shorter roster), give the lab's VMs less memory, raise limits: in ${ctx.cls.file}, or spread the class over a cluster (vmlab render --target kubevirt)`,
        details: { admission },
      },
    );
  }
  const snapshot = ctx.assignment?.checkpoint ?? CLASS_START;
  const keep = ctx.assignment ? ctx.assignment.stages.map((s) => s.checkpoint) : [CLASS_START];
  const done = new Map<string, StudentUp>();
  const there = plans.filter((p) => !pending.includes(p));
  for (const r of await mapLimit(there, admission.parallelBoots, (p) => bootCopy(rt, ctx, p, opts, false))) done.set(r.student, r);

  let fork: ClassUpResult['fork'] = { used: false, ...(blocker ? { why: blocker } : {}) };
  let toBoot = pending;
  if (!blocker && pending.length) {
    let template = await findTemplate(rt, there, done, snapshot);
    if (!template) {
      const first = pending[0]!;
      const r = await bootCopy(rt, ctx, first, opts, true);
      if (r.ok && !ctx.assignment) await takeClassStart(rt, first.plan, r, opts);
      done.set(r.student, r);
      if (r.ok) template = first;
    }
    const rest = pending.filter((p) => !done.has(p.copy.student.id));
    if (template) {
      const source: ForkSource = { plan: template.plan, snapshot, keep };
      fork = { used: true, template: template.copy.student.id, snapshot, ...(opts.ksm && rest.length ? { ksm: opts.ksm.ensureOn() } : {}) };
      for (const r of await mapLimit(rest, admission.parallelBoots, (p) => forkCopy(rt, ctx, p, source, template!.copy.student.id, opts))) done.set(r.student, r);
      toBoot = [];
    } else {
      fork = { used: false, why: `the first copy (${pending[0]!.copy.student.id}) did not come up working: nothing to fork from` };
      toBoot = rest;
    }
  }
  for (const r of await mapLimit(toBoot, admission.parallelBoots, (p) => bootCopy(rt, ctx, p, opts, true))) done.set(r.student, r);
  const students = plans.map((p) => done.get(p.copy.student.id)!);
  return { class: ctx.cls.name, admission, fork, students, notInRoster, seconds: (Date.now() - t0) / 1000 };
}

/** A copy that exists and holds the snapshot new copies start from, on every VM, with memory: forking needs no boot. */
async function findTemplate(rt: LabRuntime, there: Planned[], done: Map<string, StudentUp>, snapshot: string): Promise<Planned | undefined> {
  for (const p of there) {
    if (!done.get(p.copy.student.id)?.ok) continue;
    const targets = await snapshotTargets(rt, p.plan.lab.name, p.plan).catch(() => undefined);
    if (!targets) continue;
    const s = (await listLabSnapshots(rt, targets)).find((x) => x.name === snapshot);
    if (s?.complete && s.memory) return p;
  }
  return undefined;
}

/** The working first copy's start snapshot, right after it came up (a class of a lab, not an assignment). */
async function takeClassStart(rt: LabRuntime, plan: Plan, r: StudentUp, opts: ClassUpOptions): Promise<void> {
  opts.onStudent?.(r.student, `snapshot ${CLASS_START}: the state the other copies are forked from`);
  const targets = await snapshotTargets(rt, plan.lab.name, plan);
  if (!(await listLabSnapshots(rt, targets)).some((s) => s.name === CLASS_START && s.complete)) {
    await createLabSnapshot(rt, plan.lab.name, targets, CLASS_START, `vmlab class: the working start every student's copy is forked from`, { working: true });
  }
}

function studentUpOptions(id: string, opts: ClassUpOptions): UpOptions {
  return { ...opts, onVm: (vm, phase, detail) => opts.onVm?.(`${id}/${vm}`, phase, detail) };
}

function result(p: Planned, s0: number, r: UpResult, made?: StudentUp['made'], forkedFrom?: string): StudentUp {
  const failed = r.vms.find((v) => v.error);
  return {
    student: p.copy.student.id,
    lab: p.plan.lab.name,
    ok: r.vms.every((v) => v.ready),
    upToDate: r.upToDate,
    ...(made ? { made } : {}),
    ...(forkedFrom ? { forkedFrom } : {}),
    seconds: (Date.now() - s0) / 1000,
    vms: r.vms.length,
    ...(failed?.error ? { error: failed.error } : {}),
  };
}

async function attempt(p: Planned, opts: ClassUpOptions, made: StudentUp['made'], f: () => Promise<StudentUp>): Promise<StudentUp> {
  const s0 = Date.now();
  const id = p.copy.student.id;
  try {
    const r = await f();
    opts.onStudent?.(id, r.ok ? `ready (${r.seconds.toFixed(1)} s${r.made === 'fork' ? `, forked from ${r.forkedFrom}` : ''})` : 'NOT READY');
    return r;
  } catch (e) {
    opts.onStudent?.(id, `failed: ${(e as Error).message}`);
    return { student: id, lab: p.plan.lab.name, ok: false, upToDate: false, ...(made ? { made } : {}), seconds: (Date.now() - s0) / 1000, vms: p.plan.vms.length, error: errorReport(e) };
  }
}

/** A copy through `up` (and the assignment's start): booted if new, converged if there. */
function bootCopy(rt: LabRuntime, ctx: ClassContext, p: Planned, opts: ClassUpOptions, isNew: boolean): Promise<StudentUp> {
  const id = p.copy.student.id;
  return attempt(p, opts, isNew ? 'boot' : undefined, async () => {
    const s0 = Date.now();
    opts.onStudent?.(id, isNew ? 'bringing its lab up' : 'checking its lab');
    const a = studentAssignment(ctx, p.copy);
    const up = studentUpOptions(id, opts);
    const r = a ? (await startAssignment(rt, a, p.plan, up, (what) => opts.onStudent?.(id, what))).up : await upLab(rt, p.plan, up);
    return result(p, s0, r, isNew ? 'boot' : undefined);
  });
}

/** A new copy forked from the template's start snapshot; an assignment's copy then enters stage 1 (its setup), as a booted one does. */
function forkCopy(rt: LabRuntime, ctx: ClassContext, p: Planned, source: ForkSource, from: string, opts: ClassUpOptions): Promise<StudentUp> {
  const id = p.copy.student.id;
  return attempt(p, opts, 'fork', async () => {
    const s0 = Date.now();
    opts.onStudent?.(id, `forking from ${from}'s copy`);
    const r = await upLab(rt, p.plan, { ...studentUpOptions(id, opts), fork: source });
    if (r.vms.every((v) => v.ready)) {
      copyCheckpointRecords(rt, source, p.plan);
      if (ctx.cls.hostKeys === 'distinct') await newHostKeys(rt, p.plan, (what) => opts.onStudent?.(id, what));
      const a = studentAssignment(ctx, p.copy);
      if (a) await enterStage(rt, a, p.plan, a.stages[0]!, (what) => opts.onStudent?.(id, what), { fresh: true });
    }
    return result(p, s0, r, 'fork', from);
  });
}

/** The shell line that gives a guest new SSH host keys (a forked copy has its template's). */
export const NEW_HOST_KEYS = 'rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub && ssh-keygen -A -q && (systemctl try-restart ssh.service || true)';

/** New SSH host keys in every guest of a forked copy (class file host-keys: distinct), through its agent. */
async function newHostKeys(rt: LabRuntime, plan: Plan, onStep: (what: string) => void): Promise<void> {
  onStep('new SSH host keys (host-keys: distinct)');
  for (const vm of plan.vms) {
    const agent = await rt.agentFor(vm.domainName, vm.name);
    try {
      const r = await agent.exec('/bin/sh', ['-c', NEW_HOST_KEYS], { timeoutMs: 60_000 });
      if (r.exitCode !== 0)
        throw new VmlabError('ERR_VMLAB_HOST_KEYS', `${vm.name}: new SSH host keys failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`, {
          hint: "host-keys: shared in the class file keeps the template's",
        });
    } finally {
      agent.close();
    }
  }
}
