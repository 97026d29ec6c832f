import { suspendLab, type SuspendResult } from '../lab-ops/suspend.js';
import { linkStore } from '../lab-ops/links.js';
import { qemuRssBytes } from '../host/host-room.js';
import { downLab, type DownResult } from '../lab-ops/down.js';
import { parseDomainXml, parseNetworkMeta } from '../lab-ops/metadata.js';
import { progressStore } from '../lab-ops/progress.js';
import type { LabRuntime } from '../lab-ops/runtime.js';
import { labStatus, type LabStatus } from '../lab-ops/status.js';
import { mapLimit } from '../util/pool.js';
import type { ClassContext } from './context.js';
import type { DiskOps } from '../lab-ops/disks.js';

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

/** Everything of a class (or of one student): every copy libvirt holds for it, roster or not. */
export function classDown(rt: LabRuntime, className: string, opts: { disks: DiskOps; student?: string }): Promise<Array<DownResult & { student: string }>> {
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
