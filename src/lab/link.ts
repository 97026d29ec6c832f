/**
 * A link's impairment and state: what a NIC's `link:` in a lab file, a
 * stage's fault and `vmlab link set` say. Pure parsing and formatting; the
 * host applies it (host/traffic-control.ts: netem and tbf on the host side
 * of the VM's tap, i.e. on the packets travelling towards the VM; libvirt
 * for the state, which the guest sees as carrier).
 */
export type LinkState = 'up' | 'down';

export interface Impairment {
  /** One-way delay added to every packet, in microseconds. */
  delayUs?: number;
  /** Random variation of the delay (needs a delay), in microseconds. */
  jitterUs?: number;
  /** Share of packets dropped, 0–100. */
  lossPct?: number;
  /** Bandwidth limit in bits per second. */
  rateBit?: number;
}

export interface LinkSpec extends Impairment {
  state: LinkState;
}

export const LINK_UP: LinkSpec = { state: 'up' };
export const IMPAIRMENT_KEYS = ['delay', 'jitter', 'loss', 'rate'] as const;
export type ImpairmentKey = (typeof IMPAIRMENT_KEYS)[number];
export const LINK_KEYS = [...IMPAIRMENT_KEYS, 'state'] as const;

/** How values are written (the schema's patterns, and the CLI's flags). */
export const DURATION = /^(\d+(?:\.\d+)?)\s*(us|ms|s)$/;
export const PERCENT = /^(\d+(?:\.\d+)?)\s*%$/;
export const RATE = /^(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)$/i;

export const LINK_LIMITS = { maxDelayUs: 10_000_000, minRateBit: 8_000, maxRateBit: 100_000_000_000 };

const DURATION_US: Record<string, number> = { us: 1, ms: 1000, s: 1_000_000 };
const RATE_BIT: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

export interface LinkProblem {
  key: string;
  message: string;
  hint?: string;
  value?: unknown;
}

type Parsed<T> = { value: T } | { problem: Omit<LinkProblem, 'key'> };

function duration(v: string): Parsed<number> {
  const m = DURATION.exec(v.trim());
  if (!m) return { problem: { message: 'is not a duration', value: v, hint: 'write a number and us, ms or s, e.g. 40ms' } };
  const us = Math.round(Number(m[1]) * DURATION_US[m[2]!]!);
  if (us > LINK_LIMITS.maxDelayUs) return { problem: { message: `is more than ${formatDuration(LINK_LIMITS.maxDelayUs)}`, value: v, hint: 'a lab link delays by milliseconds, not minutes' } };
  return { value: us };
}

function percent(v: string): Parsed<number> {
  const m = PERCENT.exec(v.trim());
  if (!m) return { problem: { message: 'is not a percentage', value: v, hint: 'write a number and %, e.g. 1%' } };
  const p = Number(m[1]);
  if (p > 100) return { problem: { message: 'is more than 100%', value: v, hint: 'a share of packets: 0% to 100%' } };
  return { value: p };
}

function rate(v: string): Parsed<number> {
  const m = RATE.exec(v.trim());
  if (!m) return { problem: { message: 'is not a rate', value: v, hint: 'write a number and bit, kbit, mbit or gbit, e.g. 10mbit' } };
  const bit = Math.round(Number(m[1]) * RATE_BIT[m[2]!.toLowerCase()]!);
  if (bit < LINK_LIMITS.minRateBit || bit > LINK_LIMITS.maxRateBit) {
    return { problem: { message: `is outside ${formatRate(LINK_LIMITS.minRateBit)} to ${formatRate(LINK_LIMITS.maxRateBit)}`, value: v } };
  }
  return { value: bit };
}

/**
 * Reads link settings written as text (`delay: 40ms`, `--loss 1%`). Only the
 * keys given are set; `state` is left out unless given. Problems name the key.
 */
export function parseLinkFields(raw: Partial<Record<(typeof LINK_KEYS)[number], unknown>>): { fields: Partial<LinkSpec>; problems: LinkProblem[] } {
  const fields: Partial<LinkSpec> = {};
  const problems: LinkProblem[] = [];
  const take = <T>(key: string, v: unknown, f: (s: string) => Parsed<T>, set: (x: T) => void) => {
    if (v === undefined) return;
    const r = f(String(v));
    if ('value' in r) set(r.value);
    else problems.push({ key, ...r.problem });
  };
  take('delay', raw.delay, duration, (x) => (fields.delayUs = x));
  take('jitter', raw.jitter, duration, (x) => (fields.jitterUs = x));
  take('loss', raw.loss, percent, (x) => (fields.lossPct = x));
  take('rate', raw.rate, rate, (x) => (fields.rateBit = x));
  if (raw.state !== undefined) {
    if (raw.state === 'up' || raw.state === 'down') fields.state = raw.state;
    else problems.push({ key: 'state', message: 'is neither up nor down', value: raw.state, hint: 'state: up or state: down' });
  }
  return { fields, problems };
}

/** A complete link from fields (state up unless given); a jitter needs a delay to vary. */
export function linkFrom(fields: Partial<LinkSpec>): { link: LinkSpec; problems: LinkProblem[] } {
  const link = normalise({ state: 'up', ...fields });
  const problems: LinkProblem[] = [];
  if (fields.jitterUs && !fields.delayUs) {
    problems.push({ key: 'jitter', message: 'needs a delay to vary', hint: 'give delay: too (jitter varies it by up to this much)' });
  }
  return { link, problems };
}

/** Zero values are no impairment: dropped, so equal links compare equal. */
export function normalise(l: LinkSpec): LinkSpec {
  const out: LinkSpec = { state: l.state };
  if (l.delayUs) out.delayUs = l.delayUs;
  if (l.jitterUs && l.delayUs) out.jitterUs = l.jitterUs;
  if (l.lossPct) out.lossPct = l.lossPct;
  if (l.rateBit) out.rateBit = l.rateBit;
  return out;
}

export function impairmentOf(l: Impairment): Impairment {
  const { state: _state, ...imp } = normalise({ state: 'up', ...l });
  return imp;
}

export function hasImpairment(l: Impairment): boolean {
  return Object.keys(impairmentOf(l)).length > 0;
}

export function sameImpairment(a: Impairment, b: Impairment): boolean {
  const x = impairmentOf(a);
  const y = impairmentOf(b);
  return x.delayUs === y.delayUs && x.jitterUs === y.jitterUs && x.lossPct === y.lossPct && x.rateBit === y.rateBit;
}

export function formatDuration(us: number): string {
  if (us % 1_000_000 === 0) return `${us / 1_000_000}s`;
  if (us % 1000 === 0) return `${us / 1000}ms`;
  return `${us}us`;
}

export function formatRate(bit: number): string {
  for (const [unit, f] of [
    ['gbit', 1e9],
    ['mbit', 1e6],
    ['kbit', 1e3],
  ] as const) {
    if (bit >= f && bit % f === 0) return `${bit / f}${unit}`;
  }
  return bit >= 1e3 ? `${bit / 1e3}kbit` : `${bit}bit`;
}

/** "delay 40ms ±5ms, loss 1%, rate 10mbit" or "none". */
export function formatImpairment(l: Impairment): string {
  const i = impairmentOf(l);
  const parts: string[] = [];
  if (i.delayUs) parts.push(`delay ${formatDuration(i.delayUs)}${i.jitterUs ? ` ±${formatDuration(i.jitterUs)}` : ''}`);
  if (i.lossPct) parts.push(`loss ${i.lossPct}%`);
  if (i.rateBit) parts.push(`rate ${formatRate(i.rateBit)}`);
  return parts.length ? parts.join(', ') : 'none';
}

export function formatLink(l: LinkSpec): string {
  return `${l.state}, impairment ${formatImpairment(l)}`;
}

/** A link as written in a lab file (for JSON output). */
export function linkAsText(l: LinkSpec): Record<string, string> {
  const i = impairmentOf(l);
  return {
    state: l.state,
    ...(i.delayUs ? { delay: formatDuration(i.delayUs) } : {}),
    ...(i.jitterUs ? { jitter: formatDuration(i.jitterUs) } : {}),
    ...(i.lossPct ? { loss: `${i.lossPct}%` } : {}),
    ...(i.rateBit ? { rate: formatRate(i.rateBit) } : {}),
  };
}

/** `r1:eth1` → VM and interface. */
export function parseNicRef(ref: string): { vm: string; nic: string } | undefined {
  const m = /^([^:\s]+):([^:\s]+)$/.exec(ref);
  return m ? { vm: m[1]!, nic: m[2]! } : undefined;
}
