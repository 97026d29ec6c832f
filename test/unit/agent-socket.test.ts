import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestAgent } from '../../src/guest/agent.js';
import { SocketTransport } from '../../src/guest/socket-transport.js';

/**
 * A fake qemu-ga behind a unix socket that behaves like the emulated serial
 * port: stale bytes first, a parse error for the 0xFF, answers in 7-byte chunks.
 */
function fakeAgent(path: string, opts: { chunk?: number } = {}) {
  const chunk = opts.chunk ?? 7;
  const server = net.createServer((sock) => {
    let buf = '';
    // Paced like a UART FIFO: separate reads on the other side, never coalesced.
    let out = Promise.resolve();
    const send = (text: string) => {
      const bytes = Buffer.from(text, 'latin1');
      for (let i = 0; i < bytes.length; i += chunk) {
        const piece = bytes.subarray(i, i + chunk);
        out = out.then(() => new Promise((r) => setTimeout(() => sock.write(piece, () => r()), 1)));
      }
    };
    send('{"return": {"stale": true}}\n');
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      buf += d;
      if (buf.includes('\xff')) {
        buf = buf.slice(buf.lastIndexOf('\xff') + 1);
        send('{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}\n');
      }
      for (;;) {
        const nl = buf.indexOf('\n');
        if (nl < 0) break;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const cmd = JSON.parse(line) as { execute: string; arguments?: Record<string, unknown> };
        if (cmd.execute === 'guest-sync-delimited') send(`\xff{"return": ${cmd.arguments!.id}}\n`);
        else if (cmd.execute === 'guest-ping') send('{"return": {}}\n');
        else if (cmd.execute === 'guest-exec') send('{"return": {"pid": 42}}\n');
        else if (cmd.execute === 'guest-exec-status')
          send(`{"return": {"exited": true, "exitcode": 3, "out-data": "${Buffer.from('hello\n').toString('base64')}", "err-data": "${Buffer.from('oops').toString('base64')}"}}\n`);
        else send('{"error": {"class": "CommandNotFound", "desc": "The command ' + cmd.execute + ' has not been found"}}\n');
      }
    });
  });
  return new Promise<net.Server>((resolve) => server.listen(path, () => resolve(server)));
}

describe('guest agent over a serial-port socket', () => {
  let dir: string;
  let server: net.Server;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vmlab-qga-'));
    server = await fakeAgent(join(dir, 'agent.sock'));
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('syncs past stale bytes and answers split into small chunks', async () => {
    const a = new GuestAgent(new SocketTransport(join(dir, 'agent.sock'), 'fake'), 'fake');
    try {
      await a.ping(2000);
      const r = await a.exec('/bin/echo', ['hello'], { timeoutMs: 2000 });
      assert.deepEqual(r, { exitCode: 3, stdout: 'hello\n', stderr: 'oops' });
    } finally {
      a.close();
    }
  });

  it('reports agent errors as errors, and reconnects cleanly afterwards', async () => {
    const t = new SocketTransport(join(dir, 'agent.sock'), 'fake');
    await assert.rejects(t.command('guest-nonsense', undefined, 2000), /has not been found/);
    t.close();
    const again = new GuestAgent(new SocketTransport(join(dir, 'agent.sock'), 'fake'), 'fake');
    await again.ping(2000);
    again.close();
  });

  it('fails with a clear error when nothing listens', async () => {
    const t = new SocketTransport(join(dir, 'missing.sock'), 'ghost');
    await assert.rejects(t.command('guest-ping', undefined, 1000), /cannot connect to the guest agent socket of ghost/);
  });
});
