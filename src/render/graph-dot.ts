import { formatImpairment } from '../lab/link.js';
import type { Plan, VmPlan } from '../plan/plan.js';
import { formatCidr, formatIpv4 } from '../util/ipv4.js';

/**
 * The lab's topology as Graphviz DOT, like the course draws a physical lab:
 * bridges are switches, VMs are machines with their device model and
 * services, each cable is labelled with the guest's interface and address.
 * Pure: the layout itself is done by Graphviz (src/host/graphviz.ts).
 */
const STYLE = {
  emulated: '#fde2c8', // hardware emulation: warm
  virtio: '#d4e6fb', // paravirtualization: cool
  container: '#d9f2d9', // a container: the host's own kernel
  switch: '#e8e8e8',
  outside: '#f6d5d5',
};

/** The course's three ways, by profile family. */
const FAMILY = { emulated: 'hardware emulation', paravirtual: 'paravirtualization', container: "host's kernel" } as const;

function html(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** DOT string literal. */
function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function vmLabel(vm: VmPlan): string {
  const kind = FAMILY[vm.profile.family];
  const rows = [`<TR><TD><B>${html(vm.name)}</B></TD></TR>`, `<TR><TD><FONT POINT-SIZE="10">${html(vm.profile.name)} (${kind}) · ${html(vm.accel.name)}</FONT></TD></TR>`];
  if (vm.services.length) rows.push(`<TR><TD><FONT POINT-SIZE="10"><I>${html(vm.services.map((s) => s.name).join(', '))}</I></FONT></TD></TR>`);
  return `<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1">${rows.join('')}</TABLE>>`;
}

/** Breadth-first order over VMs and networks, from the VM with the most interfaces. */
function discoveryOrder(plan: Plan): Map<string, number> {
  const adj = new Map<string, string[]>();
  const link = (a: string, b: string) => adj.set(a, [...(adj.get(a) ?? []), b]);
  for (const vm of plan.vms) {
    for (const n of vm.nics) {
      link('vm:' + vm.name, 'net:' + n.network);
      link('net:' + n.network, 'vm:' + vm.name);
    }
  }
  const starts = [...plan.vms].sort((x, y) => y.nics.length - x.nics.length).map((v) => 'vm:' + v.name);
  const order = new Map<string, number>();
  for (const start of [...starts, ...plan.networks.map((n) => 'net:' + n.name)]) {
    if (order.has(start)) continue;
    const queue = [start];
    order.set(start, order.size);
    while (queue.length) {
      for (const next of adj.get(queue.shift()!) ?? []) {
        if (!order.has(next)) {
          order.set(next, order.size);
          queue.push(next);
        }
      }
    }
  }
  return order;
}

export function renderGraphDot(plan: Plan): string {
  const lines = [
    `// vmlab graph: lab ${plan.lab.name} (${plan.lab.file})`,
    `graph ${q(plan.lab.name)} {`,
    '  graph [rankdir=LR, fontname="Helvetica", fontsize=12, nodesep=0.35, ranksep=0.9, labelloc=t,',
    `         label=${q(`lab ${plan.lab.name}${plan.lab.description ? ': ' + plan.lab.description : ''}`)}];`,
    '  node [fontname="Helvetica", fontsize=12];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];
  for (const n of plan.networks) {
    const kind = n.mode === 'isolated' ? 'isolated bridge' : n.mode === 'nat' ? 'bridge with NAT uplink' : 'host bridge';
    const label = [`${n.name}`, n.subnet ? formatCidr(n.subnet) : '', `${kind} ${n.bridge}`].filter(Boolean).join('\n');
    lines.push(`  ${q('net:' + n.name)} [shape=box, style="rounded,filled", fillcolor=${q(n.mode === 'isolated' ? STYLE.switch : STYLE.outside)}, label=${q(label)}];`);
  }
  for (const vm of plan.vms) {
    const fill = vm.profile.family === 'emulated' ? STYLE.emulated : vm.profile.family === 'container' ? STYLE.container : STYLE.virtio;
    lines.push(`  ${q('vm:' + vm.name)} [shape=box, style=filled, fillcolor=${q(fill)}, label=${vmLabel(vm)}];`);
  }
  // Graphviz ranks nodes along edges from tail to head: orient every cable away
  // from where a walk through the lab first met it, so the picture reads as a path
  // (client - lan1 - router - transit - router - lan2 - server), not as two columns.
  const order = discoveryOrder(plan);
  for (const vm of plan.vms) {
    for (const nic of vm.nics) {
      const addr = nic.address.kind === 'static' ? `${formatIpv4(nic.address.cidr.address)}/${nic.address.cidr.prefix}` : nic.address.kind === 'dhcp' ? 'DHCP' : 'no address';
      const [a, b] = [q('vm:' + vm.name), q('net:' + nic.network)];
      const vmFirst = order.get('vm:' + vm.name)! <= order.get('net:' + nic.network)!;
      const imp = formatImpairment(nic.link);
      const label = [`${nic.ifname} ${addr}`, `tap ${nic.tap}`, ...(imp !== 'none' ? [imp] : []), ...(nic.link.state === 'down' ? ['link down'] : [])].join('\n');
      lines.push(`  ${vmFirst ? a : b} -- ${vmFirst ? b : a} [label=${q(label)}${nic.link.state === 'down' ? ', style=dashed' : ''}];`);
    }
  }
  lines.push('}', '');
  return lines.join('\n');
}
