import { sha256Hex } from '../util/hash.js';

/**
 * Everything vmlab creates is findable by name: `vmlab-<lab>-<thing>`.
 * Pure functions; the plan and the adapters share them.
 */
export const NAME_PREFIX = 'vmlab';

export function domainName(lab: string, vm: string): string {
  return `${NAME_PREFIX}-${lab}-${vm}`;
}

export function networkName(lab: string, net: string): string {
  return `${NAME_PREFIX}-${lab}-${net}`;
}

/**
 * A student's copy of a lab in a class: its own name, so every domain, network, bridge and disk is
 * the student's. `<lab>--<student>`: neither a lab name nor a student id may hold "--" (fields.ts),
 * so no two classes' copies can get one name (with one "-", lab "web" + student "x-y" and lab
 * "web-x" + student "y" both gave "web-x-y").
 */
export function studentLabName(lab: string, student: string): string {
  return `${lab}--${student}`;
}

export function labPrefix(lab: string): string {
  return `${NAME_PREFIX}-${lab}-`;
}

/**
 * Linux bridge names are limited to 15 characters (IFNAMSIZ - 1). Readable
 * `vl-<lab>-<net>` when it fits; otherwise `vl<6 hex of lab>-<net>` truncated,
 * which the validator checks for clashes.
 */
export function bridgeNameFor(lab: string, net: string): string {
  const readable = `vl-${lab}-${net}`;
  if (readable.length <= 15) return readable;
  const short = `vl${sha256Hex(lab).slice(0, 5)}-${net}`;
  return short.length <= 15 ? short : `vl${sha256Hex(`${lab}/${net}`).slice(0, 13)}`;
}

/**
 * The host side of a VM's NIC (the tap libvirt creates, `<target dev>`):
 * stable, so vmlab can find it again after a restart or a revert, and within
 * Linux's 15 characters: `vt<5 hex of lab>-<vm><index>`, or 13 hex when the
 * VM's name is too long (class plans check for clashes, as for bridges).
 * Not libvirt's reserved `vnet`/`vif`/`macvtap` prefixes.
 */
export function tapNameFor(lab: string, vm: string, nic: number): string {
  const readable = `vt${sha256Hex(lab).slice(0, 5)}-${vm}${nic}`;
  return readable.length <= 15 ? readable : `vt${sha256Hex(`${lab}/${vm}/${nic}`).slice(0, 13)}`;
}

/** Stable MAC in QEMU's 52:54:00 range, derived from lab, VM and NIC index. */
export function macFor(lab: string, vm: string, nic: number): string {
  const h = sha256Hex(`${lab}/${vm}/${nic}`);
  return `52:54:00:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
}

/** The vmlab XML namespace for <metadata> in domains and networks: how vmlab finds what it created. */
export const VMLAB_XMLNS = 'https://vmlab.dev/xmlns/lab/1';
