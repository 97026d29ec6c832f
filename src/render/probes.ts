import { LabError, VmlabError } from '../errors.js';
import { Checker } from '../lab/checker.js';
import type { ReadyProbe } from '../lab/ready.js';
import { parseReady } from '../lab/ready.js';
import { YamlSource } from '../lab/source.js';
import type { Plan, VmPlan } from '../plan/plan.js';
import { defaultServiceCatalog, type ServiceCatalog } from '../services/catalog.js';
import { contains, parseIpv4 } from '../util/ipv4.js';
import { escapeRegExp } from '../util/regex.js';
import { yamlTemplate } from './engine.js';
import { serviceContext } from './services.js';

/** A probe with where it came from: a service, a DHCP-configured interface, or the lab file. */
export interface VmProbe extends ReadyProbe {
  /** "service ospf", "dhcp eth0", "lab". */
  source: string;
}

/**
 * What "this VM works" means, as probes run through the guest agent after
 * cloud-init is done: every service's own probes (ready.yaml.hbs, rendered
 * with the same context as its cloud-config), a lease and its routes for
 * every interface configured by DHCP, and the lab's own `ready:` probes.
 * Pure apart from reading templates.
 */
export function renderProbes(plan: Plan, vm: VmPlan, catalog: ServiceCatalog = defaultServiceCatalog()): VmProbe[] {
  const out: VmProbe[] = [];
  for (const use of vm.services) {
    const def = catalog.get(use.name);
    if (!def?.readyTemplate) continue;
    const { path, source } = def.readyTemplate;
    const text = yamlTemplate(`ready:${path}`, source)(serviceContext(plan, vm, use.params));
    const src = new YamlSource(path, text);
    const c = new Checker(src);
    const probes = src.syntaxIssues().length ? undefined : parseReady(c, [], src.toJS() ?? []);
    if (!probes || !c.ok) {
      const why = src.syntaxIssues().length ? new LabError(src.syntaxIssues()).message : new LabError(c.issues).message;
      throw new VmlabError('ERR_VMLAB_SERVICE_TEMPLATE', `readiness probes of service ${use.name} for ${vm.name} are invalid: ${why}`, { hint: `fix ${path}` });
    }
    // A prefix two routers announce is one expectation, not two.
    out.push(...probes.map((p) => ({ ...p, ...(p.expect.output ? { expect: { ...p.expect, output: [...new Set(p.expect.output)] } } : {}), source: `service ${use.name}` })));
  }
  out.push(...dhcpClientProbes(plan, vm));
  out.push(...vm.ready.map((p) => ({ ...p, source: 'lab' })));
  return out;
}

/**
 * An interface with `ip: dhcp` works when it holds a lease, and with it the
 * default route and DNS server that the lab's DHCP service hands out there.
 */
function dhcpClientProbes(plan: Plan, vm: VmPlan): VmProbe[] {
  const out: VmProbe[] = [];
  for (const nic of vm.nics.filter((n) => n.address.kind === 'dhcp')) {
    const source = `dhcp ${nic.ifname}`;
    out.push({
      source,
      name: `${nic.ifname} holds a DHCP lease`,
      run: ['ip', '-4', '-o', 'addr', 'show', 'dev', nic.ifname, 'dynamic'],
      expect: { output: [' inet '] },
      timeoutS: 10,
      // networkd starts the DHCP exchange over at once, instead of after its back-off
      nudge: ['networkctl', 'reconfigure', nic.ifname],
    });
    const subnet = plan.networks.find((n) => n.name === nic.network)?.subnet;
    const served = plan.vms.flatMap((v) => v.services.filter((s) => s.name === 'dhcp').map((s) => s.params as { ranges?: Array<{ start: string; gateway?: string }>; dns?: string[] }));
    for (const params of served) {
      const range = (params.ranges ?? []).find((r) => subnet && contains(subnet, parseIpv4(String(r.start)) ?? -1));
      if (!range) continue;
      if (range.gateway) {
        out.push({
          source,
          name: `${nic.ifname} has the default route from its lease`,
          run: ['ip', '-4', 'route', 'show', 'default', 'dev', nic.ifname],
          expect: { output: [`^default via ${escapeRegExp(range.gateway)} `] },
          timeoutS: 10,
        });
      }
      if (params.dns?.length) {
        out.push({
          source,
          name: `${nic.ifname} uses the DNS server from its lease`,
          run: ['resolvectl', 'dns', nic.ifname],
          expect: { output: params.dns.map((d) => `\\b${escapeRegExp(d)}\\b`) },
          timeoutS: 10,
        });
      }
    }
  }
  return out;
}
