import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { VmlabError } from '../../errors.js';
import { capture, filterProblem } from '../../host/capture.js';
import { formatImpairment, linkAsText, parseLinkFields, parseNicRef, type LinkSpec } from '../../lab/link.js';
import { captureInterface, readLinks, setLink } from '../../lab-ops/links.js';
import { emit, reportErrors } from '../output.js';
import { positiveInt, seconds } from '../options.js';
import { hostPaths, labArg, withRuntime, type GlobalOpts } from '../context.js';

interface LinkSetOpts {
  delay?: string;
  jitter?: string;
  loss?: string;
  rate?: string;
  up?: boolean;
  down?: boolean;
  clear?: boolean;
  json?: boolean;
}

function nicRef(arg: string): { vm: string; nic: string } {
  const ref = parseNicRef(arg);
  if (!ref) throw new VmlabError('ERR_VMLAB_NIC_REF', `"${arg}" is not VM:INTERFACE`, { kind: 'user', hint: 'e.g. r1:eth1 (vmlab link show LAB lists them)' });
  return ref;
}

/** The flags of `link set` as link fields; a value out of range is the user's mistake (exit 2). */
function linkFields(o: LinkSetOpts): Partial<LinkSpec> {
  if (o.up && o.down) throw new VmlabError('ERR_VMLAB_LINK_VALUE', '--up and --down together', { kind: 'user', hint: 'give one of them' });
  const { fields, problems } = parseLinkFields({ delay: o.delay, jitter: o.jitter, loss: o.loss, rate: o.rate, ...(o.up ? { state: 'up' } : o.down ? { state: 'down' } : {}) });
  const p = problems[0];
  if (p) throw new VmlabError('ERR_VMLAB_LINK_VALUE', `--${p.key} ${String(p.value)} ${p.message}`, { kind: 'user', ...(p.hint ? { hint: p.hint } : {}) });
  if (!o.clear && Object.keys(fields).length === 0) {
    throw new VmlabError('ERR_VMLAB_LINK_VALUE', 'nothing to set', { kind: 'user', hint: 'give --delay, --jitter, --loss, --rate, --up, --down or --clear' });
  }
  return fields;
}

export function registerNet(program: Command): void {
  const link = program.command('link').description("a lab's links: impairment (delay, jitter, loss, rate) and state (up/down) of any VM interface, live");

  link
    .command('set')
    .description("change one link now, until the next up, revert or reset puts the lab file's back (impairment acts on what the VM receives)")
    .argument('<lab>', 'lab file or lab name')
    .argument('<nic>', 'VM:INTERFACE, e.g. r1:eth1')
    .option('--delay <time>', 'one-way delay, e.g. 100ms')
    .option('--jitter <time>', 'random variation of the delay, e.g. 10ms')
    .option('--loss <percent>', 'share of packets dropped, e.g. 5%')
    .option('--rate <rate>', 'bandwidth, e.g. 1mbit')
    .option('--up', 'cable in: the guest sees carrier')
    .option('--down', 'cable pulled: the guest sees no carrier')
    .option('--clear', 'remove every impairment (the state stays unless --up/--down)')
    .option('--json', 'machine-readable output')
    .action((arg: string, nic: string, opts: LinkSetOpts, cmd: Command) =>
      reportErrors(opts, async () => {
        const fields = linkFields(opts);
        const ref = nicRef(nic);
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const { name } = labArg(arg, hostPaths(g));
        await withRuntime(g, async (rt) => {
          const r = await setLink(rt, name, ref, { fields, ...(opts.clear ? { clear: true } : {}) });
          emit(opts, { ok: true, lab: name, vm: r.link.vm, nic: r.link.nic, tap: r.link.actualTap ?? r.link.tap, link: linkAsText(r.now), changes: r.changes }, () =>
            r.changes.length ? `${nic}: ${r.changes.join('; ')}` : `${nic}: already ${r.now.state}, impairment ${formatImpairment(r.now)}`,
          );
        });
      }),
    );

  link
    .command('show')
    .description('every link of the lab: its tap, state and impairment now, and what the lab file says')
    .argument('<lab>', 'lab file or lab name')
    .option('--json', 'machine-readable output')
    .action((arg: string, opts: { json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const { name } = labArg(arg, hostPaths(g));
        await withRuntime(g, async (rt) => {
          const links = await readLinks(rt, name);
          const rows = links.map((l) => ({
            vm: l.vm,
            nic: l.nic,
            network: l.network,
            tap: l.actualTap ?? l.tap,
            running: l.running,
            ...(l.running ? { now: { state: l.state, ...linkAsText({ state: l.state ?? 'up', ...(l.impairment ?? {}) }) } } : {}),
            ...(l.foreign ? { foreignQdisc: l.foreign } : {}),
            labFile: linkAsText(l.link),
          }));
          emit(opts, { lab: name, links: rows }, () =>
            [
              `${'LINK'.padEnd(16)} ${'NETWORK'.padEnd(10)} ${'TAP'.padEnd(16)} ${'STATE'.padEnd(6)} IMPAIRMENT (towards the VM)`,
              ...links.map((l) => {
                const now = l.running ? `${(l.state ?? 'up').padEnd(6)} ${l.foreign ? `foreign qdisc ${l.foreign}` : formatImpairment(l.impairment ?? {})}` : 'not running';
                const file =
                  l.running && (l.state !== l.link.state || formatImpairment(l.impairment ?? {}) !== formatImpairment(l.link)) ? `   (lab file: ${l.link.state}, ${formatImpairment(l.link)})` : '';
                return `${`${l.vm}:${l.nic}`.padEnd(16)} ${l.network.padEnd(10)} ${(l.actualTap ?? l.tap).padEnd(16)} ${now}${file}`;
              }),
            ].join('\n'),
          );
        });
      }),
    );

  program
    .command('capture')
    .description('capture packets on a network (its bridge) or one VM interface (its tap), as pcap: to stdout (pipe it into wireshark -k -i -) or to a file')
    .argument('<lab>', 'lab file or lab name')
    .argument('<target>', 'a network (lan1) or VM:INTERFACE (r1:eth1)')
    .argument('[filter...]', 'a BPF filter, as words (e.g. icmp, or host 10.0.1.1 and tcp port 80)')
    .option('-w, --write <file>', 'write the pcap to FILE and print a summary')
    .option('-c, --count <n>', 'stop after N packets', positiveInt(10_000_000))
    .option('--duration <seconds>', 'stop after this many seconds', seconds)
    .option('--json', 'the summary as JSON (with -w)')
    .action((arg: string, target: string, filter: string[], opts: { write?: string; count?: number; duration?: number; json?: boolean }, cmd: Command) =>
      reportErrors(opts, async () => {
        if (!opts.write && process.stdout.isTTY) {
          throw new VmlabError('ERR_VMLAB_CAPTURE_TTY', 'pcap is binary: not written to a terminal', {
            kind: 'user',
            hint: 'write a file with -w FILE.pcap, or pipe it: vmlab capture LAB TARGET | wireshark -k -i -',
          });
        }
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const { name } = labArg(arg, hostPaths(g));
        const where = await withRuntime(g, (rt) => captureInterface(rt, name, target));
        const problem = await filterProblem(where.iface, filter);
        if (problem)
          throw new VmlabError('ERR_VMLAB_CAPTURE_FILTER', `the capture filter "${filter.join(' ')}" is not valid: ${problem}`, { kind: 'user', hint: 'BPF syntax, as in tcpdump (man pcap-filter)' });
        const out: Writable = opts.write ? createWriteStream(opts.write) : process.stdout;
        const ac = new AbortController();
        const onSignal = () => ac.abort();
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          const r = await capture({
            iface: where.iface,
            filter,
            ...(opts.count ? { count: opts.count } : {}),
            ...(opts.duration ? { durationS: opts.duration } : {}),
            out,
            signal: ac.signal,
            onListening: () => process.stderr.write(`capturing on ${where.what}${filter.length ? `, filter: ${filter.join(' ')}` : ''}\n`),
          });
          if (opts.write) await new Promise<void>((res, rej) => (out as ReturnType<typeof createWriteStream>).end((e?: Error | null) => (e ? rej(e) : res())));
          const summary = { ok: true, lab: name, target, interface: where.iface, ...(opts.write ? { file: opts.write } : {}), ...r };
          if (opts.write) emit(opts, summary, () => `${r.packets} packets, ${r.bytes} bytes, ${r.seconds.toFixed(1)} s on ${where.what} → ${opts.write} (${r.ended})`);
          else process.stderr.write(`${r.packets} packets, ${r.bytes} bytes, ${r.seconds.toFixed(1)} s (${r.ended})\n`);
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}
