import type { NicSpec } from '../lab/model.js';
import type { PathSeg } from '../lab/source.js';
import { contains, formatCidr, networkOf, parseCidr, parseIpv4, type Cidr } from '../util/ipv4.js';

/**
 * What a service's parameter schema (templates/services/<name>/service.yaml)
 * cannot say on its own: relations between parameters and the VM's own
 * interfaces. Each problem is reported at its path inside the service entry.
 */
export interface ServiceProblem {
  at: PathSeg[];
  message: string;
  value?: unknown;
  hint?: string;
}

type Params = Record<string, unknown>;
type Check = (p: Params, nics: NicSpec[]) => ServiceProblem[];

function nicOf(nics: NicSpec[], ifname: unknown): NicSpec | undefined {
  return nics.find((n) => n.ifname === ifname);
}

function staticCidr(n: NicSpec | undefined): Cidr | undefined {
  return n?.address.kind === 'static' ? n.address.cidr : undefined;
}

/** A service that listens on an interface needs a fixed address there. */
function needsStatic(p: Params, nics: NicSpec[], key: string, what: string): ServiceProblem[] {
  const nic = nicOf(nics, p[key]);
  if (nic && !staticCidr(nic)) {
    return [{ at: [key], message: `${what} needs a static address on ${String(p[key])}`, value: p[key], hint: `give nics[${nics.indexOf(nic)}] an ip: like 10.0.0.1/24` }];
  }
  return [];
}

const dhcp: Check = (p, nics) => {
  const out = needsStatic(p, nics, 'interface', 'a DHCP server');
  const own = staticCidr(nicOf(nics, p.interface));
  const ranges = (p.ranges as Params[] | undefined) ?? [];
  ranges.forEach((r, i) => {
    const start = parseIpv4(String(r.start))!;
    const end = parseIpv4(String(r.end))!;
    const prefix = (r.prefix as number | undefined) ?? (own && contains(own, start) ? own.prefix : undefined);
    if (prefix === undefined) {
      out.push({
        at: ['ranges', i, 'start'],
        message: `range ${String(r.start)}–${String(r.end)} is not on ${String(p.interface)}'s subnet, so its prefix is unknown`,
        hint: 'say prefix: 24 (a range served through a DHCP relay)',
      });
      return;
    }
    const net: Cidr = { address: networkOf({ address: start, prefix }), prefix };
    if (start > end) out.push({ at: ['ranges', i], message: 'start is after end', value: `${String(r.start)}–${String(r.end)}` });
    else if (!contains(net, end)) out.push({ at: ['ranges', i, 'end'], message: `is not in ${formatCidr(net)} with start`, value: r.end });
    if (r.gateway !== undefined && !contains(net, parseIpv4(String(r.gateway))!)) out.push({ at: ['ranges', i, 'gateway'], message: `is not in ${formatCidr(net)}`, value: r.gateway });
  });
  if (ranges.length === 0) out.push({ at: ['ranges'], message: 'a DHCP server needs at least one range', hint: 'ranges: [{ start: 10.0.0.100, end: 10.0.0.150, gateway: 10.0.0.1 }]' });
  return out;
};

const ospf: Check = (p, nics) => {
  const out: ServiceProblem[] = [];
  const statics = nics.map(staticCidr).filter((c): c is Cidr => c !== undefined);
  if (p['router-id'] === undefined && statics.length === 0) out.push({ at: [], message: 'OSPF needs a router-id, and this VM has no static address to take it from', hint: 'add router-id: 1.1.1.1' });
  ((p.networks as Params[] | undefined) ?? []).forEach((n, i) => {
    const c = parseCidr(String(n.prefix))!;
    if (networkOf(c) !== c.address)
      out.push({ at: ['networks', i, 'prefix'], message: 'has host bits set', value: n.prefix, hint: `did you mean ${formatCidr({ address: networkOf(c), prefix: c.prefix })}?` });
    else if (!statics.some((s) => contains(c, s.address))) {
      out.push({
        at: ['networks', i, 'prefix'],
        message: "matches none of this VM's addresses, so OSPF would never run on it",
        value: n.prefix,
        hint: `this VM's addresses: ${statics.map(formatCidr).join(', ') || 'none'}`,
      });
    }
  });
  return out;
};

const nat: Check = (p) => {
  const inside = (p.inside as string[] | undefined) ?? [];
  return inside.includes(String(p.outside))
    ? [{ at: ['inside'], message: `lists the outside interface ${String(p.outside)}`, hint: 'inside interfaces are the ones whose traffic is masqueraded on the way out' }]
    : [];
};

const firewall: Check = (p) => {
  const out: ServiceProblem[] = [];
  ((p.allow as Params[] | undefined) ?? []).forEach((r, i) => {
    if (r.ports !== undefined && r.proto !== 'tcp' && r.proto !== 'udp') out.push({ at: ['allow', i, 'ports'], message: `ports need proto: tcp or udp, not ${String(r.proto)}` });
    if (r.chain === 'input' && r.out !== undefined) out.push({ at: ['allow', i, 'out'], message: 'traffic to the VM itself (chain: input) has no outgoing interface' });
  });
  return out;
};

const relay: Check = (p, nics) => needsStatic(p, nics, 'interface', 'a DHCP relay');

const checks: Record<string, Check> = { dhcp, 'dhcp-relay': relay, ospf, nat, firewall };

export function checkService(name: string, params: Params, nics: NicSpec[]): ServiceProblem[] {
  return checks[name]?.(params, nics) ?? [];
}
