import type { FastifyInstance } from 'fastify';
import { ConsoleHub, ptyHolders } from '../host/serial-console.js';
import { readDomainXml } from '../libvirt/xml-read.js';
import { authorise, type ServeDeps } from './app.js';

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
          const origin = req.headers.origin;
          if (origin !== undefined && origin !== `${deps.secureCookies ? 'https' : 'http'}://${req.headers.host}`) return reply.code(403).send({ error: 'cross-site request refused' });
          const copy = authorise(deps, req, reply, req.params.id);
          if (!copy) return reply;
          if (!copy.lab.vms.some((v) => v.name === req.params.vm)) return reply.code(404).send({ error: `no VM "${req.params.vm}" in this lab` });
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
        const viewer = {
          data: (chunk: Buffer) => socket.send(chunk),
          closed: (reason: string) => {
            say(reason);
            socket.close(1000, 'console closed');
          },
        };
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
        socket.on('close', () => hub.detach(viewer));
      },
    );
  };
}
