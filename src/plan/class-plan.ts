import { VmlabError } from '../errors.js';
import type { ClassModel, Student } from '../lab/class-file.js';
import type { LabModel } from '../lab/model.js';
import { bridgeNameFor, domainName, macFor, studentLabName, tapNameFor } from '../lab/names.js';
import { GiB, MiB } from '../util/units.js';

/**
 * A class on one host: one copy of the lab per student. A copy is the same
 * lab under the student's own name (`<lab>--<student>`), so every domain,
 * network, Linux bridge and disk is the student's, and tagged with class and
 * student in libvirt's metadata. Copies keep the lab's addresses and MACs:
 * their isolated bridges never meet. Pure.
 */
export interface StudentCopy {
  student: Student;
  lab: LabModel;
}

export function studentCopy(lab: LabModel, className: string, student: Student): LabModel {
  // Every copy keeps the lab's MACs: a copy forked from another's memory (lab-ops/fork.ts) has that
  // copy's NICs in its memory state, and isolated bridges never let two of them meet.
  const vms = lab.vms.map((vm) => ({ ...vm, nics: vm.nics.map((n, i) => ({ ...n, mac: n.mac ?? macFor(lab.name, vm.name, i) })) }));
  return { ...lab, vms, name: studentLabName(lab.name, student.id), owner: { class: className, student: student.id } };
}

/** Every student's copy; refuses a class whose names would clash (bridges and taps within 15 characters, domains). */
export function classCopies(cls: ClassModel, lab: LabModel, only?: string): StudentCopy[] {
  if (only !== undefined && !cls.students.some((s) => s.id === only)) {
    throw new VmlabError('ERR_VMLAB_STUDENT_UNKNOWN', `class "${cls.name}" has no student "${only}"`, {
      kind: 'user',
      hint: `its students: ${cls.students.map((s) => s.id).join(', ')} (from ${cls.rosterFile})`,
    });
  }
  const copies = cls.students.map((student) => ({ student, lab: studentCopy(lab, cls.name, student) }));
  const bridges = new Map<string, string>();
  const domains = new Map<string, string>();
  const taps = new Map<string, string>();
  const clashes: string[] = [];
  for (const c of copies) {
    for (const n of c.lab.networks) {
      if (n.mode === 'bridge') continue;
      const br = bridgeNameFor(c.lab.name, n.name);
      const other = bridges.get(br);
      if (other) clashes.push(`bridge ${br}: ${other} and ${c.student.id}/${n.name}`);
      bridges.set(br, `${c.student.id}/${n.name}`);
    }
    for (const v of c.lab.vms) {
      const dn = domainName(c.lab.name, v.name);
      const other = domains.get(dn);
      if (other) clashes.push(`domain ${dn}: ${other} and ${c.student.id}/${v.name}`);
      domains.set(dn, `${c.student.id}/${v.name}`);
      v.nics.forEach((_, i) => {
        const tap = tapNameFor(c.lab.name, v.name, i);
        const otherTap = taps.get(tap);
        if (otherTap) clashes.push(`tap ${tap}: ${otherTap} and ${c.student.id}/${v.name}:${i}`);
        taps.set(tap, `${c.student.id}/${v.name}:${i}`);
      });
    }
  }
  if (clashes.length) {
    throw new VmlabError('ERR_VMLAB_CLASS_NAMES', `class "${cls.name}": students' copies would share names:\n  ${clashes.join('\n  ')}`, {
      kind: 'user',
      hint: 'rename a student id (or a VM or network of the lab) so the names differ',
    });
  }
  if (lab.networks.some((n) => n.mode !== 'isolated')) {
    throw new VmlabError(
      'ERR_VMLAB_CLASS_NETWORK',
      `lab "${lab.name}" has ${lab.networks
        .filter((n) => n.mode !== 'isolated')
        .map((n) => `${n.name} (${n.mode})`)
        .join(', ')}: students' copies would meet there`,
      {
        kind: 'user',
        hint: 'a class needs isolated networks only (each student gets bridges of their own)',
      },
    );
  }
  const hosted = lab.networks.filter((n) => n.hostAddress !== undefined);
  if (hosted.length) {
    throw new VmlabError(
      'ERR_VMLAB_CLASS_NETWORK',
      `lab "${lab.name}" gives the host an address on ${hosted.map((n) => n.name).join(', ')} (host-address): every student's copy would put the same address and route on the host, and libvirt starts only the first`,
      { kind: 'user', hint: "remove host-address from the class's lab (a guest's ready: { tcp } needs it: use ready: { console } there)" },
    );
  }
  return only === undefined ? copies : copies.filter((c) => c.student.id === only);
}

/** What one student's copy needs from the host, by the estimates below. */
export interface CopyNeeds {
  vms: number;
  memoryBytes: number;
  diskBytes: number;
  /** How the memory was counted: measured on this host, or the estimate. */
  counted: string;
}

/**
 * QEMU's own memory beside a guest's RAM, per VM: device state, and under
 * TCG the translation cache the guest's code grows into (measured on idle
 * guests: see README "Classes").
 */
export const QEMU_OVERHEAD: Record<'kvm' | 'tcg', number> = { kvm: 96 * MiB, tcg: 320 * MiB };

/**
 * What a container costs a class: it reserves no RAM, so what its processes use
 * (an idle one of the default image measured 15 MiB of MemAvailable, median of 8:
 * npm run bench:containers), counted double for the services a lab runs; its own
 * layer, and a copy of that layer per checkpoint and autosave (container/snapshots.ts).
 */
export const CONTAINER_COST = { memoryBytes: 32 * MiB, diskBytes: 64 * MiB };

/**
 * Disk a VM's files grow to in a class: its overlay (linked clone) after
 * provisioning, plus one memory state per checkpoint and one for an autosave
 * (internal snapshots keep guest RAM in the overlay). Containers: CONTAINER_COST.
 */
export function copyNeeds(lab: LabModel, accel: 'kvm' | 'tcg', checkpoints: number, measured?: MeasuredGuest): CopyNeeds {
  const vms = lab.vms.filter((v) => v.kind !== 'container');
  const containers = lab.vms.length - vms.length;
  const ram = vms.reduce((s, v) => s + v.memoryBytes, 0);
  const m = measured?.accel === accel ? measured : undefined;
  // Measured: each VM as the host paid for an idle one, in proportion to its RAM (never less than half of its RAM).
  const perVm = (bytes: number) => (m ? Math.max(bytes / 2, Math.round((bytes * m.residentBytes) / m.guestBytes)) : bytes + QEMU_OVERHEAD[accel]);
  return {
    vms: lab.vms.length,
    memoryBytes: vms.reduce((s, v) => s + perVm(v.memoryBytes), 0) + containers * CONTAINER_COST.memoryBytes,
    diskBytes: vms.length * 256 * MiB + ram * (checkpoints + 1) + containers * CONTAINER_COST.diskBytes * (checkpoints + 2),
    counted: m
      ? `each VM as an idle ${mib(m.guestBytes)} ${accel} guest was measured on this host (${mib(m.residentBytes)} resident, median of ${m.samples}, ${m.source}, ${m.at.slice(0, 10)}), in proportion to its RAM`
      : `each VM's RAM + ${mib(QEMU_OVERHEAD[accel])} for QEMU under ${accel} (an estimate: npm run bench:class measures this host)`,
  };
}

const mib = (b: number) => `${Math.round(b / MiB)} MiB`;

/**
 * What an idle guest cost this host, measured (npm run bench:class writes it): QEMU's resident set
 * of a forked idle guest of `guestBytes` RAM, before KSM. KSM's merging is not counted: forked copies
 * hold their memory at once and ksmd merges it over minutes, so a class admitted on merged figures
 * would run out of memory while it comes up.
 */
export interface MeasuredGuest {
  accel: 'kvm' | 'tcg';
  guestBytes: number;
  residentBytes: number;
  samples: number;
  at: string;
  source: string;
}

export interface HostRoom {
  /** Memory the kernel can give now (MemAvailable), plus what this class's running copies already hold. */
  memoryBytes: number;
  diskBytes: number;
  cores: number;
  accel: 'kvm' | 'tcg';
  /** What an idle guest was measured to cost this host, if it was (bench:class). */
  measured?: MeasuredGuest;
}

export interface Admission {
  fits: boolean;
  /** Students whose copies fit, counting those already up. */
  fitStudents: number;
  wanted: number;
  perStudent: CopyNeeds;
  memory: { need: number; room: number; reserve: number; limit?: number };
  disk: { need: number; room: number; reserve: number; limit?: number };
  parallelBoots: number;
  reasons: string[];
}

/** What the host keeps for itself: 2 GiB or a tenth of what is there, whichever is more. */
export const reserveOf = (room: number): number => Math.max(2 * GiB, Math.floor(room / 10));

/**
 * Does the class fit? `pending` students still need their copies; `up` have
 * theirs (their memory is already counted as in use). Nothing is created
 * when it does not: the caller says how many fit and what to change.
 */
export function admit(cls: ClassModel, needs: CopyNeeds, host: HostRoom, pending: number, up: number): Admission {
  const memReserve = reserveOf(host.memoryBytes);
  const diskReserve = reserveOf(host.diskBytes);
  const memRoom = Math.max(0, host.memoryBytes - memReserve);
  const diskRoom = Math.max(0, host.diskBytes - diskReserve);
  const memLimit = cls.limits.memoryBytes;
  const diskLimit = cls.limits.diskBytes;
  const byMem = Math.floor(memRoom / needs.memoryBytes);
  const byDisk = Math.floor(diskRoom / needs.diskBytes);
  const byMemLimit = memLimit === undefined ? Infinity : Math.floor(memLimit / needs.memoryBytes) - up;
  const byDiskLimit = diskLimit === undefined ? Infinity : Math.floor(diskLimit / needs.diskBytes) - up;
  const morePossible = Math.max(0, Math.min(byMem, byDisk, byMemLimit, byDiskLimit));
  const reasons: string[] = [];
  const gib = (b: number) => `${(b / GiB).toFixed(1)} GiB`;
  if (pending > byMem) reasons.push(`memory: ${pending} more copies need ${gib(pending * needs.memoryBytes)}, the host can give ${gib(memRoom)} (keeping ${gib(memReserve)})`);
  if (pending > byMemLimit) reasons.push(`memory: the class's limit ${gib(memLimit!)} holds ${Math.max(0, byMemLimit + up)} copies of ${gib(needs.memoryBytes)}`);
  if (pending > byDisk) reasons.push(`disk: ${pending} more copies need ${gib(pending * needs.diskBytes)}, the data directory has ${gib(diskRoom)} (keeping ${gib(diskReserve)})`);
  if (pending > byDiskLimit) reasons.push(`disk: the class's limit ${gib(diskLimit!)} holds ${Math.max(0, byDiskLimit + up)} copies of ${gib(needs.diskBytes)}`);
  // A TCG boot keeps a core busy; KVM guests boot mostly waiting on I/O.
  const perCore = host.accel === 'tcg' ? 1 : 4;
  const parallelBoots = cls.limits.parallelBoots ?? Math.max(1, Math.floor((host.cores * perCore) / Math.max(1, needs.vms)));
  return {
    fits: reasons.length === 0,
    fitStudents: up + Math.min(pending, morePossible),
    wanted: up + pending,
    perStudent: needs,
    memory: { need: pending * needs.memoryBytes, room: memRoom, reserve: memReserve, ...(memLimit !== undefined ? { limit: memLimit } : {}) },
    disk: { need: pending * needs.diskBytes, room: diskRoom, reserve: diskReserve, ...(diskLimit !== undefined ? { limit: diskLimit } : {}) },
    parallelBoots,
    reasons,
  };
}
