import type { Checker } from './checker.js';
import { parseCommandCheck, type CommandCheck } from './command-check.js';
import type { PathSeg } from './source.js';

/**
 * A readiness probe: a command run in the guest (through the guest agent)
 * that says the VM is *working*, not only booted. Services declare their own
 * (templates/services/<name>/ready.yaml.hbs); a lab may add more per VM.
 */
export interface ReadyProbe extends CommandCheck {
  name: string;
  /** Seconds one run of the command may take. */
  timeoutS: number;
  /**
   * A command that makes the guest try again now, run while the probe keeps
   * failing (after NUDGE_AFTER_MS, then every NUDGE_EVERY_MS): a DHCP client
   * whose server came up late otherwise waits out its back-off (up to 64 s).
   */
  nudge?: string[];
}

/** `ready:` of a VM: a list of probes (or one probe as a mapping). */
export function parseReady(c: Checker, segs: readonly PathSeg[], v: unknown): ReadyProbe[] | undefined {
  if (v === undefined) return [];
  const items = Array.isArray(v) ? v : [v];
  const out: ReadyProbe[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const s = Array.isArray(v) ? [...segs, i] : [...segs];
    const o = c.object(s, item, { required: ['run'], optional: ['name', 'expect', 'timeout'] });
    if (!o) return void (ok = false);
    const cmd = parseCommandCheck(c, s, o);
    const name = o.name === undefined ? `${(o.run as string[] | undefined)?.join?.(' ') ?? 'probe'}` : c.string([...s, 'name'], o.name, { maxLength: 200 });
    const timeoutS = o.timeout === undefined ? 10 : c.int([...s, 'timeout'], o.timeout, 1, 600);
    if (!cmd || name === undefined || timeoutS === undefined) return void (ok = false);
    out.push({ name, ...cmd, timeoutS });
  });
  return ok ? out : undefined;
}
