import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * VMs vmlab has just resumed in their running QEMU (a `loadvm`): for this
 * long after, their guest agent may still be reconnecting, and a command
 * waits for it (guest/reconnecting-transport.ts). So a reset returns when
 * the lab works, and the first check after it, in this process or the next
 * one, still reaches the guest. One file per domain under the run directory,
 * holding the time; `down` removes it.
 */
export const RECONNECT_GRACE_MS = 10_000;

const file = (runDir: string, domain: string) => join(runDir, 'resumed', domain);

export function noteResumed(runDir: string, domains: string[], at = Date.now()): void {
  if (!domains.length) return;
  mkdirSync(join(runDir, 'resumed'), { recursive: true });
  for (const d of domains) writeFileSync(file(runDir, d), `${at}\n`);
}

/** Until when a command to this domain's agent waits for it to reconnect, or undefined: it need not. */
export function reconnectDeadline(runDir: string, domain: string, now = Date.now()): number | undefined {
  const f = file(runDir, domain);
  if (!existsSync(f)) return undefined;
  const until = Number(readFileSync(f, 'utf8').trim()) + RECONNECT_GRACE_MS;
  return Number.isFinite(until) && until > now ? until : undefined;
}

/** Removes the note; returns its path when there was one. */
export function forgetResumed(runDir: string, domain: string): string | undefined {
  const f = file(runDir, domain);
  if (!existsSync(f)) return undefined;
  rmSync(f, { force: true });
  return f;
}
