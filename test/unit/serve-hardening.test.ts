import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { connect } from 'node:net';
import fc from 'fast-check';
import WebSocket from 'ws';
import { AccountStore } from '../../src/class/accounts.js';
import { accessOf } from '../../src/serve/app.js';
import { as, login, world, type World } from '../helpers/serve-world.js';

/**
 * What a review found that did not hold (issue: harden the class server), each as a test that
 * failed before its fix: revoke/reissue in a running server, percent-encoded paths past the
 * auth/CSRF hook, errors echoed, missing security headers, a TLS proxy, consoles without bounds.
 */
const other = (w: World) => new AccountStore(w.deps.rt.paths.dataDir, 'pair'); // `vmlab class credentials`, another process

describe('vmlab serve hardened: logins revoked or reissued while it runs', function () {
  this.timeout(60_000);

  it('a revoke ends the login at once: its session answers 401, its password is refused', async () => {
    const w = await world();
    const ana = await login(w, 'ana');
    assert.equal((await w.app.inject({ url: '/api/me', headers: as(ana) })).statusCode, 200);
    other(w).revoke('ana');
    assert.equal((await w.app.inject({ url: '/api/me', headers: as(ana) })).statusCode, 401, 'the session of a revoked login');
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/login', payload: { id: 'ana', password: w.logins.ana!.password } })).statusCode, 401, 'the revoked password');
  });

  it('a reissue: the old password and the sessions opened with it stop working, the new password works', async () => {
    const w = await world();
    const ben = await login(w, 'ben');
    const [fresh] = await other(w).issue([{ id: 'ben', role: 'student' }], { reissue: true });
    assert.equal((await w.app.inject({ url: '/api/me', headers: as(ben) })).statusCode, 401);
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/login', payload: { id: 'ben', password: w.logins.ben!.password } })).statusCode, 401);
    await login(w, 'ben', fresh!.password);
  });

  it('an old session presented after a reissue ends only itself: a session opened with the new password stays', async () => {
    const w = await world();
    const old = await login(w, 'ben');
    const [fresh] = await other(w).issue([{ id: 'ben', role: 'student' }], { reissue: true });
    const now = await login(w, 'ben', fresh!.password);
    assert.equal((await w.app.inject({ url: '/api/me', headers: as(old) })).statusCode, 401);
    assert.equal((await w.app.inject({ url: '/api/me', headers: as(now) })).statusCode, 200);
  });

  it('an open console of a revoked login is closed within the account watch, saying why', async () => {
    const w = await world({ accountWatchMs: 100 });
    const access = accessOf.get(w.deps)!;
    const { session } = access.sessions.create('cai', 'student', w.deps.accounts.active('cai')!.salt);
    const closed: string[] = [];
    access.holdConsole(session, (why) => closed.push(why));
    access.recheck();
    assert.deepEqual(closed, [], 'a valid session keeps its console');
    other(w).revoke('cai');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(closed.length, 1);
    assert.match(closed[0]!, /session ended .*revoked/);
    assert.equal(access.consolesOf('cai'), 0);
    await w.app.close();
  });
});

describe('vmlab serve hardened: the routed path decides, never the raw URL', function () {
  this.timeout(120_000);
  const GETS = ['/api/me', '/api/students/ana', '/api/students/ana/graph.svg', '/api/class', '/api/class/class.csv', '/api/students/ana/activity'];
  const POSTS = ['/api/class/reset', '/api/class/check', '/api/students/ana/check', '/api/students/ana/reset', '/api/logout'];
  /** `path` with some of its characters (never "/") percent-encoded, in either case of hex. */
  const encoded = (path: string) =>
    fc.array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: path.length, maxLength: path.length }).map((picks) =>
      [...path]
        .map((ch, i) => {
          const [enc, upper] = picks[i]!;
          if (!enc || ch === '/') return ch;
          const hex = ch.charCodeAt(0).toString(16).padStart(2, '0');
          return `%${upper ? hex.toUpperCase() : hex}`;
        })
        .join(''),
    );

  it('/%61pi/… without a session is 401 (was 500), with a session it is what /api/… is', async () => {
    const w = await world();
    assert.equal((await w.app.inject({ url: '/%61pi/me' })).statusCode, 401);
    const ana = await login(w, 'ana');
    assert.equal((await w.app.inject({ url: '/%61pi/me', headers: as(ana) })).statusCode, 200);
  });

  it('fuzzed encodings: no session is 401 (or 404 where the encoding makes it no route), never 200 or 500', async () => {
    const w = await world();
    for (const [method, paths] of [
      ['GET', GETS],
      ['POST', POSTS],
    ] as const)
      for (const p of paths)
        await fc.assert(
          fc.asyncProperty(encoded(p), async (url) => {
            const code = (await w.app.inject({ method, url })).statusCode;
            assert.ok(code === 401 || code === 404, `${method} ${url}: ${code}`);
          }),
          { numRuns: 25 },
        );
  });

  it("fuzzed encodings: the teacher's cookie from another origin without the CSRF token writes nothing (was: POST /%61pi/class/reset reset the class)", async () => {
    const w = await world();
    const teach = await login(w, 'teach');
    let resets = 0;
    const reset = w.deps.rt.hypervisor.revertSnapshot.bind(w.deps.rt.hypervisor);
    w.deps.rt.hypervisor.revertSnapshot = async (d, n) => {
      resets++;
      return reset(d, n);
    };
    for (const p of POSTS.filter((x) => x !== '/api/logout'))
      await fc.assert(
        fc.asyncProperty(encoded(p), fc.boolean(), async (url, cross) => {
          const headers = cross ? { cookie: teach.cookie, origin: 'https://evil.example', host: 'localhost:80' } : { cookie: teach.cookie };
          const code = (await w.app.inject({ method: 'POST', url, headers })).statusCode;
          assert.ok(code === 403 || code === 404, `POST ${url}${cross ? ' (cross-origin)' : ''}: ${code}`);
        }),
        { numRuns: 25 },
      );
    assert.equal(resets, 0, 'no revert ran');
  });
});

describe('vmlab serve hardened: what every response says, and what it does not', function () {
  this.timeout(60_000);

  it('security headers on every response, errors included; the page keeps its own CSP; HSTS only under TLS', async () => {
    const w = await world();
    const ana = await login(w, 'ana');
    for (const [url, h] of [
      ['/api/me', as(ana)],
      ['/api/me', {}],
      ['/api/nope', as(ana)],
      ['/', {}],
    ] as const) {
      const r = await w.app.inject({ url, headers: h });
      assert.equal(r.headers['x-content-type-options'], 'nosniff', url);
      assert.equal(r.headers['referrer-policy'], 'no-referrer', url);
      assert.equal(r.headers['x-frame-options'], 'DENY', url);
      assert.match(String(r.headers['content-security-policy']), url === '/' ? /script-src 'self'.*frame-ancestors 'none'/ : /^default-src 'none'; frame-ancestors 'none'$/, url);
      assert.equal(r.headers['strict-transport-security'], undefined);
    }
    const tls = await world({ secureCookies: true });
    assert.match(String((await tls.app.inject({ url: '/' })).headers['strict-transport-security']), /max-age=\d+/);
  });

  it('a failure inside a route is a 500 that says nothing of it; the server log has it', async () => {
    const w = await world();
    const ana = await login(w, 'ana');
    const h = w.deps.rt.hypervisor;
    h.domain = h.listDomains = async () => {
      throw new Error('cannot open /var/lib/vmlab/secret-path/x.qcow2');
    };
    const r = await w.app.inject({ url: '/api/students/ana', headers: as(ana) });
    assert.equal(r.statusCode, 500);
    assert.doesNotMatch(r.body, /secret-path/);
    assert.match(r.json().error, /server log/);
    assert.ok(w.logLines.some((l) => /secret-path/.test(l)));
  });

  it('the topology and the status of a lab are computed once for a burst of requests, and rate-limited per login', async () => {
    const w = await world();
    const ana = await login(w, 'ana');
    let listed = 0;
    const h = w.deps.rt.hypervisor;
    const list = h.listDomains.bind(h);
    const dom = h.domain.bind(h);
    h.listDomains = async () => (listed++, list());
    h.domain = async (n) => (listed++, dom(n));
    const codes: number[] = [];
    for (let i = 0; i < 61; i++) codes.push((await w.app.inject({ url: '/api/students/ana', headers: as(ana) })).statusCode);
    assert.deepEqual([codes.slice(0, 60).every((c) => c === 200), codes[60]], [true, 429]);
    assert.ok(listed <= 10, `libvirt asked ${listed} times for 60 requests within the cache's seconds`);
  });

  it('expired sessions are swept, not kept', async () => {
    const w = await world();
    const access = accessOf.get(w.deps)!;
    const s = access.sessions.create('ana', 'student', w.deps.accounts.active('ana')!.salt);
    s.session.expires = Date.now() - 1;
    assert.equal(access.sessions.sweep(), 1);
    assert.equal(access.sessions.size, 0);
  });
});

describe('vmlab serve hardened: behind a TLS proxy (--trust-proxy)', function () {
  this.timeout(60_000);
  const https = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'lab.example.org' };

  it('from the trusted proxy: a __Host- Secure cookie, HSTS, and the https Origin accepted', async () => {
    const w = await world({ trustProxy: '127.0.0.1' });
    const s = await login(w, 'ana', undefined, https);
    assert.match(s.setCookie, /^__Host-vmlab_session=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Strict/);
    const r = await w.app.inject({ method: 'POST', url: '/api/students/ana/check', headers: { ...as(s), ...https, origin: 'https://lab.example.org' } });
    assert.equal(r.statusCode, 200, r.body);
    assert.match(String(r.headers['strict-transport-security']), /max-age/);
  });

  it('without --trust-proxy, forwarded headers are not believed: no Secure cookie, an https Origin is cross-site', async () => {
    const w = await world();
    const s = await login(w, 'ana', undefined, https);
    assert.doesNotMatch(s.setCookie, /Secure|__Host-/);
    const r = await w.app.inject({ method: 'POST', url: '/api/students/ana/check', headers: { ...as(s), ...https, origin: 'https://lab.example.org' } });
    assert.equal(r.statusCode, 403);
  });

  it('logins are limited per client (its forwarded address) and per account, so one client cannot lock everyone out', async () => {
    const w = await world({ trustProxy: '127.0.0.1' });
    const from = (ip: string, id: string, password = 'wrong-wrong-wrong') =>
      w.app.inject({ method: 'POST', url: '/api/login', payload: { id, password }, headers: { 'x-forwarded-for': ip } }).then((r) => r.statusCode);
    const codes: number[] = [];
    for (let i = 0; i < 11; i++) codes.push(await from('192.0.2.10', i < 10 ? `nobody${i}` : 'ana'));
    assert.deepEqual(codes, [...Array(10).fill(401), 429], 'the 11th attempt from one client');
    assert.equal(await from('192.0.2.20', 'ana', w.logins.ana!.password), 200, 'another client is not locked out');
    // One account guessed from many addresses: 10 failures, then that account waits (its right password too).
    for (let i = 0; i < 10; i++) assert.equal(await from(`192.0.2.${30 + i}`, 'ben'), 401);
    assert.equal(await from('192.0.2.99', 'ben', w.logins.ben!.password), 429);
    assert.equal(await from('192.0.2.99', 'cai', w.logins.cai!.password), 200);
  });
});

/** A pty that a "guest" prints into without end (like `yes >/dev/ttyS0`): its slave path, as QEMU names it in the domain XML. */
function flood(): Promise<{ pty: string; proc: ChildProcess }> {
  // As QEMU does, it keeps only the master open (a holder of the slave would be named, not shared: ptyHolders);
  // until a viewer opens the slave, writes fail (EIO) and are tried again.
  const script = [
    'import os,pty,time',
    'm,s=pty.openpty()',
    'print(os.ttyname(s),flush=True)',
    'os.close(s)',
    'b=b"y"*4096+b"\\n"',
    'while True:',
    '  try: os.write(m,b)',
    '  except OSError: time.sleep(0.05)',
  ].join('\n');
  const proc = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => createInterface({ input: proc.stdout! }).once('line', (pty) => resolve({ pty, proc })));
}

describe('vmlab serve hardened: consoles are bounded', function () {
  this.timeout(120_000);
  let pty: string;
  let proc: ChildProcess;
  before(async () => ({ pty, proc } = await flood()));
  after(() => proc.kill());

  /** The pair class with ana's para running on the flooding pty. */
  async function served(opts: Parameters<typeof world>[0] = {}) {
    const w = await world(opts);
    const h = w.deps.rt.hypervisor as unknown as { domains: Map<string, { xml: string; state: string }> };
    const d = h.domains.get('vmlab-quickstart--ana-para')!;
    // libvirt's live XML names the pty it gave the serial port
    d.xml = d.xml.replace("<serial type='pty'>", `<serial type='pty'><source path='${pty}'/>`);
    d.state = 'running';
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (w.app.server.address() as { port: number }).port;
    return { w, port, ana: await login(w, 'ana') };
  }

  it("a viewer that never reads is closed once it is 1 MiB behind; the server's memory stays bounded; a reading viewer goes on", async () => {
    const { w, port, ana } = await served();
    try {
      const rss0 = process.memoryUsage().rss;
      // A raw WebSocket handshake, then never a read: the guest's output piles up for it.
      const stalled = connect(port, '127.0.0.1');
      await new Promise((r) => stalled.once('connect', r));
      stalled.write(
        `GET /api/students/ana/vms/para/console HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: ${ana.cookie}\r\n\r\n`,
      );
      stalled.pause();
      const reader = new WebSocket(`ws://127.0.0.1:${port}/api/students/ana/vms/para/console`, { headers: { cookie: ana.cookie } });
      let got = 0;
      reader.on('message', (m: Buffer) => (got += m.length));
      const access = accessOf.get(w.deps)!;
      const deadline = Date.now() + 60_000;
      while (access.consolesOf('ana') !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      assert.equal(access.consolesOf('ana'), 1, 'the stalled viewer was closed, the reading one kept');
      const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
      assert.ok(grown < 100, `the server grew ${grown.toFixed(0)} MiB`);
      const before = got;
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(got > before, 'the reading viewer still gets output');
      reader.close();
      stalled.destroy();
    } finally {
      await w.app.close();
    }
  });

  it('one login opens at most its limit of consoles; the next is 429 before any upgrade', async () => {
    const { w, port, ana } = await served({});
    try {
      const open = (): Promise<WebSocket | number> =>
        new Promise((resolve) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/api/students/ana/vms/para/console`, { headers: { cookie: ana.cookie } });
          ws.on('open', () => resolve(ws));
          ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
          ws.on('error', () => undefined);
          ws.on('message', () => undefined);
        });
      const sockets: WebSocket[] = [];
      for (let i = 0; i < 8; i++) {
        const s = await open();
        assert.ok(s instanceof WebSocket, `console ${i + 1}: ${String(s)}`);
        sockets.push(s);
      }
      assert.equal(await open(), 429);
      for (const s of sockets) s.close();
    } finally {
      await w.app.close();
    }
  });
});
