import { suspendLab, type SuspendResult } from '../lab-ops/suspend.js';
import { linkStore } from '../lab-ops/links.js';
import { errorReport, VmlabError, type ErrorReport } from '../errors.js';
import { startAssignment } from '../assignment/ops.js';
import { cores, diskFreeBytes, memAvailableBytes, qemuRssBytes } from '../host/host-room.js';
import { downLab, type DownResult } from '../lab-ops/down.js';
import { parseDomainXml, parseNetworkMeta } from '../lab-ops/metadata.js';
import { progressStore } from '../lab-ops/progress.js';
import type { LabRuntime } from '../lab-ops/runtime.js';
import { labStatus, type LabStatus } from '../lab-ops/status.js';
import { upLab, type UpOptions } from '../lab-ops/up.js';
import { admit, copyNeeds, type Admission, type HostRoom } from '../plan/class-plan.js';
import type { Accel } from '../profiles/index.js';
import { mapLimit } from '../util/pool.js';
import { studentAssignment, type ClassContext } from './context.js';

/** The domains libvirt holds for a class, each with its student, lab copy and whether it runs (from vmlab's metadata). */
export async function classDomains(rt: LabRuntime, className: string): Promise<Array<{ student: string; lab: string; domain: string; running: boolean }>> {
  const h = rt.hypervisor;
  const out: Array<{ student: string; lab: string; domain: string; running: boolean }> = [];
  for (const d of await h.listDomains()) {
    if (!d.name.startsWith('vmlab-')) continue;
    const m = (await parseDomainXml(await h.domainXml(d.name, true))).meta;
    if (m?.owner?.class === className) out.push({ student: m.owner.student, lab: m.lab, domain: d.name, running: d.state === 'running' });
  }
  return out;
}

/**
 * The labs of a class, by student, whatever the roster says now: from vmlab's metadata in libvirt,
 * and from the records `up` wrote before it made anything (a copy whose domains and networks a
 * killed `class down` had already removed still has its disks and records: those are found too).
 */
export async function classLabs(rt: LabRuntime, className: string): Promise<Map<string, string>> {
  const h = rt.hypervisor;
  const out = new Map<string, string>();
  for (const d of await classDomains(rt, className)) out.set(d.student, d.lab);
  for (const n of await h.listNetworks()) {
    if (!n.name.startsWith('vmlab-')) continue;
    const m = await parseNetworkMeta(await h.networkXml(n.name));
    if (m?.owner?.class === className && !out.has(m.owner.student)) out.set(m.owner.student, m.lab);
  }
  const records = linkStore(rt.paths.dataDir);
  for (const lab of records.labs()) {
    const owner = records.read(lab)?.owner;
    if (owner?.class === className && !out.has(owner.student)) out.set(owner.student, lab);
  }
  return out;
}

export interface StudentUp {
  student: string;
  lab: string;
  ok: boolean;
  /** Nothing to do: the copy was up and ready already. */
  upToDate: boolean;
  seconds: number;
  vms: number;
  error?: ErrorReport;
}

export interface ClassUpResult {
  class: string;
  admission: Admission;
  students: StudentUp[];
  /** Copies in libvirt of students the roster no longer lists: left alone. */
  notInRoster: Array<{ student: string; lab: string }>;
  seconds: number;
}

export interface HostFacts {
  room(dataDir: string, accel: Accel): HostRoom;
}

export const hostFacts: HostFacts = {
  room: (dataDir, accel) => ({ memoryBytes: memAvailableBytes(), diskBytes: diskFreeBytes(dataDir), cores: cores(), accel }),
};

/**
 * One copy of the lab per student, through the same `up` (and assignment
 * start) as a single lab, at most `parallel-boots` students at once. The
 * class is admitted first: if the copies still to make do not fit (memory,
 * disk, the class's limits), nothing is created. Idempotent: copies that are
 * up are left as they are; a student added to the roster gets a copy.
 */
export async function classUp(rt: LabRuntime, ctx: ClassContext, opts: UpOptions & { host?: HostFacts; onStudent?: (student: string, what: string) => void }): Promise<ClassUpResult> {
  const t0 = Date.now();
  const existing = await classLabs(rt, ctx.cls.name);
  const roster = new Set(ctx.cls.students.map((s) => s.id));
  const notInRoster = [...existing].filter(([s]) => !roster.has(s)).map(([student, lab]) => ({ student, lab }));
  const plans = ctx.copies.map((c) => ({ copy: c, plan: ctx.plan(c.lab) }));
  const accel = plans.some((p) => p.plan.vms.some((v) => v.accel.name === 'tcg')) ? 'tcg' : 'kvm';
  const needs = copyNeeds(ctx.lab, accel, ctx.assignment?.stages.length ?? 0);
  const pending = ctx.copies.filter((c) => !existing.has(c.student.id)).length;
  const admission = admit(ctx.cls, needs, (opts.host ?? hostFacts).room(rt.paths.dataDir, accel), pending, ctx.copies.length - pending);
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
  const students = await mapLimit(plans, admission.parallelBoots, async ({ copy, plan }): Promise<StudentUp> => {
    const s0 = Date.now();
    const id = copy.student.id;
    opts.onStudent?.(id, existing.has(id) ? 'checking its lab' : 'bringing its lab up');
    const up: UpOptions = { ...opts, onVm: (vm, phase, detail) => opts.onVm?.(`${id}/${vm}`, phase, detail) };
    try {
      const a = studentAssignment(ctx, copy);
      const r = a ? (await startAssignment(rt, a, plan, up, (what) => opts.onStudent?.(id, what))).up : await upLab(rt, plan, up);
      const ok = r.vms.every((v) => v.ready);
      opts.onStudent?.(id, ok ? `ready (${((Date.now() - s0) / 1000).toFixed(1)} s)` : 'NOT READY');
      const failed = r.vms.find((v) => v.error);
      return { student: id, lab: plan.lab.name, ok, upToDate: r.upToDate, seconds: (Date.now() - s0) / 1000, vms: r.vms.length, ...(failed?.error ? { error: failed.error } : {}) };
    } catch (e) {
      opts.onStudent?.(id, `failed: ${(e as Error).message}`);
      return { student: id, lab: plan.lab.name, ok: false, upToDate: false, seconds: (Date.now() - s0) / 1000, vms: plan.vms.length, error: errorReport(e) };
    }
  });
  return { class: ctx.cls.name, admission, students, notInRoster, seconds: (Date.now() - t0) / 1000 };
}

/** Everything of a class (or of one student): every copy libvirt holds for it, roster or not. */
export function classDown(rt: LabRuntime, className: string, opts: { disks: UpOptions['disks']; student?: string }): Promise<Array<DownResult & { student: string }>> {
  return eachCopy(rt, className, opts.student, (lab) => downLab(rt, lab, { disks: opts.disks }));
}

/** `f` on every copy of a class (or one student's), one after the other, each result tagged with its student. */
async function eachCopy<T>(rt: LabRuntime, className: string, only: string | undefined, f: (lab: string) => Promise<T>): Promise<Array<T & { student: string }>> {
  const out: Array<T & { student: string }> = [];
  for (const [student, lab] of await classLabs(rt, className)) if (only === undefined || student === only) out.push({ student, ...(await f(lab)) });
  return out;
}

/** Suspends every copy of a class (or one student's): each VM's memory saved, its host memory freed; `class up` resumes them. */
export function classSuspend(rt: LabRuntime, className: string, opts: { student?: string } = {}): Promise<Array<SuspendResult & { student: string }>> {
  return eachCopy(rt, className, opts.student, (lab) => suspendLab(rt, lab));
}

export interface StudentStatus {
  student: string;
  name?: string;
  lab: string;
  /** In libvirt at all. */
  up: boolean;
  vms: number;
  ready: number;
  stage?: number;
  stages?: number;
  lastCheck?: { at: string; score: number; maxScore: number };
  /** Resident memory of the copy's QEMU processes (what the host pays), when readable. */
  memoryBytes?: number;
  status: LabStatus;
}

/** Per student: VMs ready (the readiness probes run once), stage, last score, memory in use. */
export async function classStatus(rt: LabRuntime, ctx: ClassContext, parallel = 4): Promise<{ class: string; students: StudentStatus[] }> {
  const store = progressStore(rt.paths.dataDir);
  const students = await mapLimit(ctx.copies, parallel, async (c): Promise<StudentStatus> => {
    const plan = ctx.plan(c.lab);
    const status = await labStatus(rt, c.lab.name, plan);
    const p = store.read(c.lab.name);
    const rss = status.vms.filter((v) => v.state === 'running').map((v) => qemuRssBytes(v.domain));
    return {
      student: c.student.id,
      ...(c.student.name ? { name: c.student.name } : {}),
      lab: c.lab.name,
      up: status.vms.length > 0,
      vms: plan.vms.length,
      ready: status.vms.filter((v) => v.ready).length,
      ...(p ? { stage: p.stage, stages: p.stages } : {}),
      ...(p?.lastCheck ? { lastCheck: { at: p.lastCheck.at, score: p.lastCheck.score, maxScore: p.lastCheck.maxScore } } : {}),
      ...(rss.length && rss.every((x) => x !== undefined) ? { memoryBytes: rss.reduce((s, x) => s + x!, 0) } : {}),
      status,
    };
  });
  return { class: ctx.cls.name, students };
}
