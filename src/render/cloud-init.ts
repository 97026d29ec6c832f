import YAML from 'yaml';
import type { Plan, VmPlan } from '../plan/plan.js';
import { formatIpv4 } from '../util/ipv4.js';
import { renderServiceFragments, type CloudConfigFragment } from './services.js';
import { wallClockFragment } from './wall-clock.js';

/**
 * cloud-init NoCloud seed files. Built as objects and serialised by the YAML
 * library: no user value is ever concatenated into YAML text.
 */
// YAML 1.1, as cloud-init's PyYAML reads it: a string that 1.1 would take for something else is quoted (an all-digit MAC such as 52:54:00:22:23:52 is a base-60 integer there).
const YAML_OPTS = { lineWidth: 0, aliasDuplicateObjects: false, version: '1.1' } as const;

/** Where Linux takes the clocksource it keeps time by. */
export const CLOCKSOURCE_FILE = '/sys/devices/system/clocksource/clocksource0/current_clocksource';

/**
 * What the guest image needs from vmlab itself. The image runs no resolver by
 * default (systemd-resolved costs seconds of boot under TCG): static `dns:`
 * becomes /etc/resolv.conf; a DHCP interface turns systemd-resolved on, which
 * takes the DNS servers from the lease.
 */
export function plumbingFragment(plan: Plan, vm: VmPlan): CloudConfigFragment {
  const servers = [...new Set(vm.nics.flatMap((n) => n.nameservers.map(formatIpv4)))];
  const frag: CloudConfigFragment = {};
  const bootcmd: NonNullable<CloudConfigFragment['bootcmd']> = [];
  // The accel's clock (profiles/accel.ts), first: before any daemon starts its timers.
  if (vm.accel.clocksource.value !== 'guest default') bootcmd.push(['sh', '-c', `echo ${vm.accel.clocksource.value} > ${CLOCKSOURCE_FILE}`]);
  if (vm.nics.some((n) => n.address.kind === 'dhcp')) {
    bootcmd.push(['systemctl', 'enable', '--now', 'systemd-resolved.service'], ['ln', '-sf', '../run/systemd/resolve/stub-resolv.conf', '/etc/resolv.conf']);
  } else if (servers.length) {
    frag.write_files = [
      {
        path: '/etc/resolv.conf',
        permissions: '0644',
        content: `# written by vmlab from the lab file (nics[].dns)\n${servers.map((s) => `nameserver ${s}`).join('\n')}\nsearch ${plan.lab.domain}\n`,
      },
    ];
  }
  if (bootcmd.length) frag.bootcmd = bootcmd;
  return frag;
}

export function userDataObject(
  plan: Plan,
  vm: VmPlan,
  fragments: CloudConfigFragment[] = [plumbingFragment(plan, vm), wallClockFragment(vm), ...renderServiceFragments(plan, vm)],
): Record<string, unknown> {
  const ci = vm.cloudInit;
  const packages = unique([...fragments.flatMap((f) => f.packages ?? []), ...ci.packages]);
  const writeFiles = uniqueByValue([
    ...fragments.flatMap((f) => f.write_files ?? []),
    ...ci.writeFiles.map((f) => ({ path: f.path, content: f.content, ...(f.permissions ? { permissions: f.permissions } : {}), ...(f.owner ? { owner: f.owner } : {}) })),
  ]);
  // Two services of one daemon (dhcp and dns are both dnsmasq) restart it once; the user's own commands run as written.
  const bootcmd = [...uniqueByValue(fragments.flatMap((f) => f.bootcmd ?? [])), ...ci.bootcmd];
  const runcmd = [...uniqueByValue(fragments.flatMap((f) => f.runcmd ?? [])), ...ci.runcmd];
  // cloud-init runs runcmd as one script and judges it by its last command: stop at the
  // first failure instead, so a service that does not start is an error `vmlab up` reports.
  if (runcmd.length) runcmd.unshift('set -e');
  const users = ci.users.map((u) => ({
    name: u.name,
    ...(u.sshAuthorizedKeys.length ? { ssh_authorized_keys: u.sshAuthorizedKeys } : {}),
    ...(u.hashedPasswd ? { hashed_passwd: u.hashedPasswd, lock_passwd: false } : { lock_passwd: true }),
    ...(u.sudo ? { sudo: 'ALL=(ALL) NOPASSWD:ALL' } : {}),
    ...(u.groups.length ? { groups: u.groups } : {}),
    shell: u.shell ?? '/bin/bash',
  }));
  return {
    hostname: vm.hostname,
    fqdn: vm.fqdn,
    manage_etc_hosts: true,
    ...(users.length ? { users } : {}),
    ...(packages.length ? { packages } : {}),
    ...(writeFiles.length ? { write_files: writeFiles } : {}),
    ...(bootcmd.length ? { bootcmd } : {}),
    ...(runcmd.length ? { runcmd } : {}),
  };
}

export function renderUserData(plan: Plan, vm: VmPlan): string {
  return `#cloud-config\n# vmlab: ${vm.domainName} (lab ${plan.lab.name})\n` + YAML.stringify(userDataObject(plan, vm), YAML_OPTS);
}

export function renderMetaData(vm: VmPlan): string {
  return YAML.stringify({ 'instance-id': vm.instanceId, 'local-hostname': vm.hostname }, YAML_OPTS);
}

/** Network config version 2; interfaces matched by MAC and renamed to the lab's names. */
export function networkConfigObject(plan: Plan, vm: VmPlan): Record<string, unknown> {
  const ethernets: Record<string, unknown> = {};
  for (const n of vm.nics) {
    const e: Record<string, unknown> = { match: { macaddress: n.mac }, 'set-name': n.ifname };
    if (n.address.kind === 'dhcp') e.dhcp4 = true;
    else {
      e.dhcp4 = false;
      if (n.address.kind === 'static') e.addresses = [`${formatIpv4(n.address.cidr.address)}/${n.address.cidr.prefix}`];
    }
    if (n.gateway !== undefined) e.routes = [{ to: '0.0.0.0/0', via: formatIpv4(n.gateway) }];
    if (n.nameservers.length) e.nameservers = { addresses: n.nameservers.map(formatIpv4), search: [plan.lab.domain] };
    ethernets[n.ifname] = e;
  }
  return { version: 2, ethernets };
}

export function renderNetworkConfig(plan: Plan, vm: VmPlan): string {
  return YAML.stringify(networkConfigObject(plan, vm), YAML_OPTS);
}

/** Drops exact repeats (services that share a file or a restart), keeping the first. */
function uniqueByValue<T>(xs: T[]): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const key = JSON.stringify(x);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
