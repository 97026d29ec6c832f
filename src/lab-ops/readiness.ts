import type { AutoAccel } from '../plan/plan.js';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { VmlabError } from '../errors.js';
import type { GuestChannel } from '../guest/agent.js';
import { isStartingUp, type DomainEvent, type Hypervisor } from '../libvirt/types.js';
import { expectProblems } from '../lab/command-check.js';
import type { ReadyProbe } from '../lab/ready.js';
import type { VmProbe } from '../render/probes.js';

export type ReadyPhase = 'starting' | 'running' | 'agent' | 'cloud-init' | 'services' | 'ready' | 'failed';

export interface ReadyTimes {
  /** ms from start request to the domain running (lifecycle event). */
  running?: number;
  /** ms from start request to the guest agent's first answer. */
  agent?: number;
  /** ms from start request to cloud-init done. */
  cloudInit?: number;
  /** ms from start request to every service's readiness probe passing. */
  services?: number;
}

export interface CloudInitResult {
  done: boolean;
  errors: string[];
}

/** cloud-init writes /run/cloud-init/result.json when its last stage ends; reading it spawns nothing in the guest. */
export async function cloudInitResult(agent: GuestChannel): Promise<CloudInitResult> {
  let text: string;
  try {
    text = await agent.readFile('/run/cloud-init/result.json');
  } catch (e) {
    if (/No such file|not found|Failed to open/i.test((e as Error).message)) return { done: false, errors: [] };
    throw e;
  }
  const j = JSON.parse(text) as { v1?: { errors?: string[] } };
  return { done: true, errors: j.v1?.errors ?? [] };
}

export function consoleTail(path: string | undefined, lines = 15): string[] {
  if (!path || !existsSync(path)) return [];
  try {
    return readFileSync(path, 'utf8')
      .replace(/\r/g, '')
      .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
      .split('\n')
      .filter((l) => l.trim())
      .slice(-lines);
  } catch {
    return [];
  }
}

/** Where QEMU logs its own errors (e.g. "KVM internal error … emulation failure"). */
export function qemuLogTail(domain: string, lines = 20): string[] {
  const path = `/var/log/libvirt/qemu/${domain}.log`;
  return consoleTail(path, lines);
}

const KVM_FAILURE = /requires KVM, but it is not available|KVM internal error|emulation failure|kvm run failed|failed to set MSR|kvm_buf_set_msrs|failed to initialize kvm/i;

/** The line of QEMU's log (or of an error text) showing KVM itself failed, if any. */
export function kvmFailure(domain: string, text = ''): string | undefined {
  const fromText = text.split('\n').find((l) => KVM_FAILURE.test(l));
  return fromText ?? qemuLogTail(domain, 60).find((l) => KVM_FAILURE.test(l));
}

export function kvmUnusable(vmName: string, line: string): VmlabError {
  return new VmlabError('ERR_VMLAB_KVM_UNUSABLE', `${vmName}: KVM cannot run this guest here (${line.trim().replace(/^.*?qemu-system-x86_64: /, '')})`, {
    hint: 'use accel: tcg, or accel: auto, which checks what this host can run (vmlab doctor)',
  });
}

/**
 * `accel: kvm` asked on a host whose KVM cannot run a stock guest (host/accel-probe.ts): refused
 * before anything is created, with a code per kind of host.
 */
export function kvmRefused(host: AutoAccel, vms: readonly string[]): VmlabError {
  const none = host.kvm === 'none';
  return new VmlabError(
    none ? 'ERR_VMLAB_KVM_MISSING' : 'ERR_VMLAB_KVM_UNUSABLE',
    `${vms.join(', ')}: accel: kvm, but ${none ? 'this host has no usable KVM' : 'KVM cannot run this guest here'} (${host.reason}); nothing was created`,
    { kind: 'user', hint: 'set accel: auto (it picks tcg on this host and says why) or accel: tcg in the lab file; vmlab doctor says what this host can run' },
  );
}

/** ready: { tcp: PORT } of a guest vmlab does not provision: the host connects to it. */
export interface TcpWait {
  address: string;
  port: number;
  answers: (timeoutMs: number) => Promise<boolean>;
}

export interface WaitReadyOptions {
  hypervisor: Hypervisor;
  domain: string;
  vmName: string;
  accel: string;
  agent: () => Promise<GuestChannel>;
  consoleLog?: string;
  timeoutMs: number;
  startedAt: number;
  /** What "working" means for this VM (render/probes.ts); waited for after cloud-init. */
  probes?: VmProbe[];
  /**
   * A guest vmlab does not provision (no agent, no cloud-init): ready once it
   * runs, or once its serial console prints `pattern` after byte `from` of
   * the console log (0 for a guest already running: it matched back then),
   * and, with `tcp`, once its port answers the host (after the console, when both).
   */
  agentless?: { console?: RegExp; tcp?: TcpWait };
  /** Where this boot's output begins in the console log (0 for a guest already running). */
  consoleFrom?: number;
  /** What to say when the guest's initramfs gives up on its root disk (the profile knows: profiles/rootDiskMissing). */
  rootMissing?: string;
  onPhase?: (phase: ReadyPhase, detail?: string) => void;
}

/**
 * Waits, driven by libvirt's lifecycle signals and the guest agent's answers:
 * running → agent answers → cloud-init done. A domain that stops or pauses on
 * its own is reported at once (with the reason), never waited out.
 */
export async function waitReady(o: WaitReadyOptions): Promise<ReadyTimes> {
  const times: ReadyTimes = {};
  let phase: ReadyPhase = 'starting';
  let failure: VmlabError | undefined;
  const setPhase = (p: ReadyPhase, d?: string) => {
    phase = p;
    o.onPhase?.(p, d);
  };
  const diagnose = (what: string): VmlabError => {
    const kvm = o.accel === 'kvm' ? kvmFailure(o.domain) : undefined;
    if (kvm) return kvmUnusable(o.vmName, kvm);
    const tail = consoleTail(o.consoleLog);
    return new VmlabError('ERR_VMLAB_BOOT_FAILED', `${o.vmName}: ${what} (last phase: ${phase})`, {
      hint: tail.length ? `last lines of the serial console:\n      ${tail.join('\n      ')}` : `see ${o.consoleLog ?? 'the serial console'} and /var/log/libvirt/qemu/${o.domain}.log`,
      details: { phase, console: tail },
    });
  };
  const unsubscribe = o.hypervisor.onDomainEvent((e: DomainEvent) => {
    if (e.domain !== o.domain) return;
    if (e.event === 'started' || e.event === 'resumed') {
      if (times.running === undefined) times.running = Date.now() - o.startedAt;
      if (phase === 'starting') setPhase('running');
    } else if (e.event === 'stopped' || e.event === 'crashed') {
      failure ??= diagnose(`the domain ${e.event === 'crashed' ? 'crashed' : 'stopped'} while booting`);
    } else if (e.event === 'suspended') {
      failure ??= diagnose('the domain was paused by QEMU while booting');
    }
  });
  const deadline = o.startedAt + o.timeoutMs;
  let agent: GuestChannel | undefined;
  try {
    for (;;) {
      if (failure) throw failure;
      if (Date.now() > deadline) {
        if (o.agentless?.tcp && (phase as ReadyPhase) === 'running' && (!o.agentless.console || o.agentless.console.test(consoleSince(o.consoleLog, o.consoleFrom ?? 0)))) {
          throw tcpSilent(o.vmName, o.agentless.tcp, o.timeoutMs);
        }
        throw diagnose(`not ready after ${Math.round(o.timeoutMs / 1000)} s`);
      }
      if (phase === 'starting') {
        const info = await o.hypervisor.domain(o.domain);
        if (info?.state === 'running') {
          times.running ??= Date.now() - o.startedAt;
          setPhase('running');
        } else if (info && (info.state === 'shutoff' || info.state === 'crashed')) {
          throw diagnose(`the domain is ${info.state}`);
        } else if (info && isStartingUp(info)) {
          await sleep(200);
        } else if (info?.state === 'paused') {
          throw diagnose('the domain is paused');
        } else {
          await sleep(200);
        }
        continue;
      }
      const printed = o.agentless?.console || o.rootMissing ? consoleSince(o.consoleLog, o.consoleFrom ?? 0) : '';
      if (o.rootMissing && ROOT_MISSING.test(printed)) {
        throw new VmlabError('ERR_VMLAB_NO_ROOT_DISK', `${o.vmName}: ${o.rootMissing}`, {
          hint: `its initramfs gave up waiting for the root disk; last lines of the serial console:\n      ${consoleTail(o.consoleLog, 6).join('\n      ')}`,
        });
      }
      if (o.agentless) {
        const tcp = o.agentless.tcp;
        if (!o.agentless.console || o.agentless.console.test(printed)) {
          if (!tcp || (await tcp.answers(1000))) {
            const said = [o.agentless.console ? `the console printed ${String(o.agentless.console)}` : '', tcp ? `port ${tcp.port} of ${tcp.address} answered` : ''].filter(Boolean);
            setPhase('ready', said.length ? said.join('; ') : 'running (no agent, no console pattern)');
            return times;
          }
        }
        await sleep(500);
        continue;
      }
      agent ??= await o.agent();
      if (phase === 'running') {
        try {
          await agent.ping(2000);
          times.agent = Date.now() - o.startedAt;
          setPhase('agent');
        } catch {
          const info = await o.hypervisor.domain(o.domain);
          if (info && info.state !== 'running') throw diagnose(`the domain is ${info.state}`);
          await sleep(1000);
        }
        continue;
      }
      const r = await cloudInitResult(agent).catch(() => ({ done: false, errors: [] as string[] }));
      if (r.done) {
        times.cloudInit = Date.now() - o.startedAt;
        if (r.errors.length) {
          throw new VmlabError('ERR_VMLAB_CLOUD_INIT_FAILED', `${o.vmName}: cloud-init finished with errors: ${r.errors.join('; ')}`, {
            hint: `look inside: vmlab exec <lab> ${o.vmName} -- cat /var/log/cloud-init-output.log`,
          });
        }
        if (o.probes?.length) {
          setPhase('services', o.probes.map((p) => p.name).join('; '));
          await waitProbes(agent, o.vmName, o.probes, deadline, o.timeoutMs);
          times.services = Date.now() - o.startedAt;
        }
        setPhase('ready');
        return times;
      }
      if (phase !== 'cloud-init') setPhase('cloud-init');
      await sleep(500);
    }
  } catch (e) {
    setPhase('failed', (e as Error).message);
    throw e;
  } finally {
    unsubscribe();
    agent?.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What Debian's (and Ubuntu's) initramfs prints when it cannot find the root disk, before dropping to a shell. */
export const ROOT_MISSING = /Gave up waiting for root (file system )?device|ALERT! .* does not exist\.\s+Dropping to a shell/;

/** What the serial console log holds after byte `from` (empty while there is no log). */
export function consoleSince(path: string | undefined, from: number): string {
  if (!path || !existsSync(path)) return '';
  // Only what was written since `from`: the log appends across boots, and this is read every half second.
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - from));
    const n = buf.length ? readSync(fd, buf, 0, buf.length, from) : 0;
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The console log's size now: where a boot that starts now begins. */
export function consoleSize(path: string | undefined): number {
  return path && existsSync(path) ? statSync(path).size : 0;
}

function tcpSilent(vmName: string, tcp: TcpWait, timeoutMs: number): VmlabError {
  return new VmlabError('ERR_VMLAB_TCP_NOT_READY', `${vmName}: port ${tcp.port} of ${tcp.address} did not answer the host within ${Math.round(timeoutMs / 1000)} s (the guest runs)`, {
    hint: `is the guest's address ${tcp.address} and does something listen on port ${tcp.port}? Look on its serial console: vmlab console LAB ${vmName}`,
    details: { address: tcp.address, port: tcp.port },
  });
}

/** Runs one probe once; what it saw and what is wrong with it (nothing when it passed). */
export async function runProbe(agent: GuestChannel, p: ReadyProbe): Promise<{ got: { exitCode: number | null; stdout: string; stderr: string }; problems: string[] }> {
  let got: { exitCode: number | null; stdout: string; stderr: string; error?: string };
  try {
    const [path, ...args] = p.run;
    got = await agent.exec(path!, args, { timeoutMs: p.timeoutS * 1000 });
  } catch (e) {
    got = { exitCode: null, stdout: '', stderr: '', error: (e as Error).message };
  }
  return { got, problems: expectProblems(p.expect, got) };
}

/** How often probes that have not passed yet are run again. */
const PROBE_INTERVAL_MS = 1000;
/** A failing probe's nudge (ReadyProbe.nudge) runs after it has failed this long, then at most this often. */
export const NUDGE_AFTER_MS = 5000;
export const NUDGE_EVERY_MS = 10_000;

/**
 * Runs the probes until every one has passed (a probe that passed is not run
 * again). Past the deadline, the error names the service, the VM, the probe
 * and what it last saw.
 */
export async function waitProbes(
  agent: GuestChannel,
  vmName: string,
  probes: VmProbe[],
  deadline: number,
  timeoutMs: number,
  nudging = { afterMs: NUDGE_AFTER_MS, everyMs: NUDGE_EVERY_MS },
): Promise<void> {
  const pending = new Set(probes);
  const last = new Map<VmProbe, { problems: string[]; stdout: string; stderr: string }>();
  const firstFailed = new Map<VmProbe, number>();
  const nudged = new Map<VmProbe, number>();
  for (;;) {
    for (const p of [...pending]) {
      const { got, problems } = await runProbe(agent, p);
      if (problems.length === 0) {
        pending.delete(p);
        continue;
      }
      last.set(p, { problems, stdout: got.stdout, stderr: got.stderr });
      const now = Date.now();
      if (!firstFailed.has(p)) firstFailed.set(p, now);
      if (p.nudge && now - firstFailed.get(p)! >= nudging.afterMs && now - (nudged.get(p) ?? 0) >= nudging.everyMs) {
        nudged.set(p, now);
        const [cmd, ...args] = p.nudge;
        await agent.exec(cmd!, args, { timeoutMs: 10_000 }).catch(() => undefined); // best effort: the probe still decides
      }
    }
    if (pending.size === 0) return;
    if (Date.now() + PROBE_INTERVAL_MS > deadline) break;
    await sleep(PROBE_INTERVAL_MS);
  }
  const p = [...pending][0]!;
  const seen = last.get(p)!;
  const out = (seen.stdout || seen.stderr).trim().split('\n').slice(-8).join('\n      ');
  throw new VmlabError('ERR_VMLAB_SERVICE_NOT_READY', `${vmName}: ${p.source} is not working after ${Math.round(timeoutMs / 1000)} s: "${p.name}" still fails (${seen.problems.join('; ')})`, {
    hint: `last output of ${p.run.join(' ')}:\n      ${out || '(none)'}\n    look inside: vmlab exec <lab> ${vmName} -- ${p.run.join(' ')}`,
    details: { source: p.source, probe: p.name, run: p.run, problems: seen.problems, stdout: seen.stdout, stderr: seen.stderr, pending: [...pending].map((x) => x.name) },
  });
}
