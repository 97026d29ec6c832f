import YAML from 'yaml';
import { VmlabError } from '../errors.js';
import type { Plan, VmPlan } from '../plan/plan.js';
import { defaultServiceCatalog, type ServiceCatalog } from '../services/catalog.js';
import { formatIpv4 } from '../util/ipv4.js';
import { yamlTemplate } from './engine.js';

/** The parts of cloud-config a service may contribute; merged in service order. */
export interface CloudConfigFragment {
  packages?: string[];
  write_files?: Array<Record<string, unknown>>;
  bootcmd?: Array<string | string[]>;
  runcmd?: Array<string | string[]>;
}

const FRAGMENT_KEYS = new Set(['packages', 'write_files', 'bootcmd', 'runcmd']);

/** What every service template can see. */
export function serviceContext(plan: Plan, vm: VmPlan, params: Record<string, unknown>): Record<string, unknown> {
  const hosts = plan.vms.flatMap((v) =>
    v.nics
      .filter((n) => n.address.kind === 'static')
      .map((n) => ({
        name: v.name,
        fqdn: v.fqdn,
        network: n.network,
        ip: n.address.kind === 'static' ? formatIpv4(n.address.cidr.address) : '',
      })),
  );
  const statics = vm.nics.filter((n) => n.address.kind === 'static');
  /** Every service of the lab, for services that depend on their peers (OSPF: what the other routers announce). */
  const services = plan.vms.flatMap((v) => v.services.map((u) => ({ vm: v.name, name: u.name, params: camelKeys(u.params) })));
  return {
    params: camelKeys(params),
    lab: { name: plan.lab.name, domain: plan.lab.domain, hosts, services },
    vm: {
      name: vm.name,
      hostname: vm.hostname,
      fqdn: vm.fqdn,
      profile: vm.profile.name,
      services: vm.services.map((s) => s.name),
      /** The first static address: OSPF's default router-id. */
      firstIp: statics[0] && statics[0].address.kind === 'static' ? formatIpv4(statics[0].address.cidr.address) : '',
      /** ifname → address and ifname → prefix, for `lookup`. */
      ips: Object.fromEntries(statics.map((n) => [n.ifname, n.address.kind === 'static' ? formatIpv4(n.address.cidr.address) : ''])),
      prefixes: Object.fromEntries(statics.map((n) => [n.ifname, n.address.kind === 'static' ? n.address.cidr.prefix : 0])),
      nics: vm.nics.map((n) => ({
        ifname: n.ifname,
        network: n.network,
        mac: n.mac,
        ip: n.address.kind === 'static' ? formatIpv4(n.address.cidr.address) : '',
        prefix: n.address.kind === 'static' ? n.address.cidr.prefix : 0,
        cidr: n.address.kind === 'static' ? `${formatIpv4(n.address.cidr.address)}/${n.address.cidr.prefix}` : '',
      })),
    },
  };
}

/** Lab files say `router-id`; templates read `params.routerId`. */
// Template contexts are untyped by nature (Handlebars reads any key).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function camelKeys(v: unknown): any {
  if (Array.isArray(v)) return v.map(camelKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase()), camelKeys(x)]));
  }
  return v;
}

export function renderServiceFragments(plan: Plan, vm: VmPlan, catalog: ServiceCatalog = defaultServiceCatalog()): CloudConfigFragment[] {
  return vm.services.map((use) => {
    const def = catalog.get(use.name);
    if (!def) throw new VmlabError('ERR_VMLAB_SERVICE_UNKNOWN', `unknown service ${use.name} at ${use.path}`, { kind: 'user' });
    const text = yamlTemplate(def.templatePath, def.template)(serviceContext(plan, vm, use.params));
    let parsed: unknown;
    try {
      parsed = YAML.parse(text);
    } catch (e) {
      throw new VmlabError('ERR_VMLAB_SERVICE_TEMPLATE', `service template ${def.templatePath} produced invalid YAML for ${vm.name}: ${(e as Error).message}`, {
        hint: 'template values must be written {{yaml value}}',
        cause: e,
      });
    }
    const frag = (parsed ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(frag)) {
      if (!FRAGMENT_KEYS.has(k)) {
        throw new VmlabError('ERR_VMLAB_SERVICE_TEMPLATE', `service template ${def.templatePath} sets "${k}"; a service may only add ${[...FRAGMENT_KEYS].join(', ')}`);
      }
    }
    return frag as CloudConfigFragment;
  });
}
