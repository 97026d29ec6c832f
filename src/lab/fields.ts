import { parseCidr, parseIpv4, type Cidr } from '../util/ipv4.js';
import { GiB, MiB } from '../util/units.js';
import type { Checker } from './checker.js';
import type { PathSeg } from './source.js';

/** Shapes of single values in lab files, shared by the lab, cloud-init and service checks. */
export const DNS_HINT = 'use lowercase letters, digits and "-", start and end with a letter or digit, at most 63 characters';
export const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
export const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Student ids become part of domain and bridge names: short and DNS-safe, no "--" (it joins lab and student: names.ts). */
export const STUDENT_ID = /^(?!.*--)[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/;
export const ASSIGNMENT_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
export const HASHED_PASSWD = /^\$(1|5|6|y|2[aby])\$[./A-Za-z0-9$]{8,}$/;
export const ABS_PATH = /^\/[^\0]*$/;
export const OCTAL_MODE = /^0?[0-7]{3,4}$/;
/** No "--": it joins a lab's name and a student's in a class copy's (names.ts). */
export const LAB_NAME = /^(?!.*--)[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$/;
export const DNS_DOMAIN = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const LINUX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
export const SSH_PUBLIC_KEY = /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp\d+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( [^\n]*)?$/;
export const SHELL_PATH = /^\/[A-Za-z0-9/_.-]+$/;
export const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.:=~-]*$/;
export const OWNER = /^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$/;

export function ipv4(c: Checker, segs: PathSeg[], v: unknown): number | undefined {
  const s = c.string(segs, v, { what: 'an IPv4 address' });
  if (s === undefined) return undefined;
  const ip = parseIpv4(s);
  if (ip === undefined) c.fail(segs, 'is not an IPv4 address', { value: v, hint: 'write four numbers 0-255, e.g. 10.0.1.1' });
  return ip;
}

export function cidr(c: Checker, segs: PathSeg[], v: unknown): Cidr | undefined {
  const s = c.string(segs, v, { what: 'an address in CIDR form' });
  if (s === undefined) return undefined;
  const r = parseCidr(s);
  if (!r) c.fail(segs, 'is not an address in CIDR form', { value: v, hint: 'write address/prefix, e.g. 10.0.1.10/24' });
  return r;
}

/** How big a lab and its parts may be. */
export const LIMITS = {
  maxCount: 100,
  maxVms: 1000,
  maxNics: 8,
  maxDisks: 8,
  maxVcpus: 64,
  minMemory: 64 * MiB,
  maxMemory: 256 * GiB,
  maxDisk: 16 * 1024 * GiB,
  maxNetworks: 64,
};
