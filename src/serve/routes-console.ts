import type { FastifyInstance } from 'fastify';
import { ConsoleHub, ptyHolders } from '../host/serial-console.js';
import { readDomainXml } from '../libvirt/xml-read.js';
import { accessOf, authorise, sameOrigin, type ServeDeps } from './app.js';

/** Consoles one login may have open at once: a page shows a few; more is a script. */
const CONSOLES_PER_LOGIN = 8;
/** How far (bytes not yet sent) one viewer may fall behind before it is closed. */
const CONSOLE_BUFFER_BYTES = 1024 * 1024;

/**
 * A VM's serial console over a WebSocket: output as binary frames (the
 * scrollback first), input as text frames {"type":"input","data":"…"}.
 * Every browser tab watching a VM shares one hub (ConsoleHub); a `virsh
 * console` holding the pty is named instead of fought over.
 */
/** A hub, or why there is none; claimed before anything is awaited, so viewers arriving together share one. */
type HubOrWhy = Promise<ConsoleHub | { why: string; code: number }>;
const hubsOf = new WeakMap<ServeDeps, Map<string, HubOrWhy>>();

export function consoleRoutes(deps: ServeDeps) {
  const hubs = hubsOf.get(deps) ?? new Map<string, HubOrWhy>();
  hubsOf.set(deps, hubs);
  return async (app: FastifyInstance) => {
    app.addHook('onClose', async () => {
      for (const h of hubs.values()) {
        const hub = await h;
        if (hub instanceof ConsoleHub) hub.close('the server stopped');
      }
    });

    app.get<{ Params: { id: string; vm: string } }>(
      '/api/students/:id/vms/:vm/console',
      {
        websocket: true,
        // Before the upgrade: this student's lab, a VM of it, and a page of this server (no cross-site WebSocket).
        preValidation: async (req, reply) => {
          if (!sameOrigin(req)) return reply.code(403).send({ error: 'cross-site request refused' });
          const copy = authorise(deps, req, reply, req.params.id);
          if (!copy) return reply;
          if (!copy.lab.vms.some((v) => v.name === req.params.vm)) return reply.code(404).send({ error: `no VM "${req.params.vm}" in this lab` });
          const max = deps.consolesPerLogin ?? CONSOLES_PER_LOGIN;
          if (accessOf.get(deps)!.consolesOf(req.session!.user) >= max) return reply.code(429).send({ error: `${max} consoles open for this login already: close one` });
        },
      },
      async (socket, req) => {
        const copy = deps.ctx.copies.find((c) => c.student.id === req.params.id)!;
        const vm = deps.ctx.plan(copy.lab).vms.find((v) => v.name === req.params.vm)!;
        const say = (text: string) => socket.send(Buffer.from(`\r\n\x1b[33m[vmlab] ${text}\x1b[0m\r\n`));
        let pending = hubs.get(vm.domainName);
        if (!pending) {
          pending = (async () => {
            // A container has no serial line to share (vmlab console gives a root shell in it, as root on the host).
            if (vm.kind === 'container') return { why: `${vm.name} is a container: it has no serial console; use vmlab exec (or your checks)`, code: 1011 };
            const info = await deps.rt.hypervisor.domain(vm.domainName);
            const pty = info?.state === 'running' ? (await readDomainXml(await deps.rt.hypervisor.domainXml(vm.domainName))).serials.find((s) => s.type === 'pty')?.sourcePath : undefined;
            if (!pty) return { why: `${vm.name} is ${info ? info.state : 'not defined'}: no console`, code: 1011 };
            const held = ptyHolders(pty);
            if (held.length)
              return { why: `the console of ${vm.name} is held by ${held.map((p) => `pid ${p.pid} (${p.command.slice(0, 60)})`).join(', ')}: leave that one (Ctrl-]) and reload`, code: 1013 };
            return new ConsoleHub(pty, { onIdle: () => hubs.delete(vm.domainName) });
          })();
          hubs.set(vm.domainName, pending);
        }
        const hub = await pending;
        if (!(hub instanceof ConsoleHub)) {
          if (hubs.get(vm.domainName) === pending) hubs.delete(vm.domainName);
          say(hub.why);
          return socket.close(hub.code, 'no console');
        }
        // A viewer that does not read (a stalled tab, a script) is closed once it is this far behind,
        // never buffered without end: a guest can print faster than any browser reads.
        const maxBehind = deps.consoleBufferBytes ?? CONSOLE_BUFFER_BYTES;
        let release = () => {};
        const viewer = {
          data: (chunk: Buffer) => {
            if (socket.bufferedAmount > maxBehind) {
              hub.detach(viewer);
              release();
              say(`your console fell more than ${maxBehind >> 10} KiB behind the guest's output and was closed: reload to see it again`);
              socket.close(1013, 'too slow');
              socket.terminate?.();
              return;
            }
            socket.send(chunk);
          },
          closed: (reason: string) => {
            release();
            say(reason);
            socket.close(1000, 'console closed');
          },
        };
        release = accessOf.get(deps)!.holdConsole(req.session!, (why) => {
          hub.detach(viewer);
          say(why);
          socket.close(1008, 'session ended');
        });
        hub.attach(viewer);
        socket.on('message', (raw: Buffer, isBinary: boolean) => {
          if (isBinary) return;
          try {
            const m = JSON.parse(raw.toString('utf8')) as { type?: string; data?: unknown };
            if (m.type === 'input' && typeof m.data === 'string' && m.data.length <= 4096) hub.type(m.data);
          } catch {
            /* not a message of ours */
          }
        });
        socket.on('close', () => {
          hub.detach(viewer);
          release();
        });
      },
    );
  };
}
