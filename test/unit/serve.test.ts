import assert from 'node:assert/strict';
import { join } from 'node:path';
import WebSocket from 'ws';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { CSRF_HEADER } from '../../src/serve/app.js';
import { as, login, world } from '../helpers/serve-world.js';

describe('vmlab serve: sessions, authorisation, CSRF, rate limits (HTTP, on fakes)', function () {
  this.timeout(30_000);

  it('no session: 401 everywhere under /api; the page itself is served with a strict CSP', async () => {
    const w = await world();
    for (const url of ['/api/me', '/api/students/ana', '/api/class', '/api/students/ana/graph.svg', '/api/class/class.csv']) assert.equal((await w.app.inject({ url })).statusCode, 401, url);
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/students/ana/check' })).statusCode, 401);
    const page = await w.app.inject({ url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  });

  it('login sets an HttpOnly, SameSite=Strict session cookie (Secure under TLS); a wrong password is 401; logout ends the session', async () => {
    const w = await world();
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/login', payload: { id: 'ana', password: 'nope-nope-nope-nope' } })).statusCode, 401);
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/login', payload: { id: 'nobody', password: w.logins.ana!.password } })).statusCode, 401);
    const s = await login(w, 'ana');
    assert.match(s.setCookie, /HttpOnly/);
    assert.match(s.setCookie, /SameSite=Strict/);
    assert.doesNotMatch(s.setCookie, /Secure/);
    assert.deepEqual((await w.app.inject({ url: '/api/me', headers: as(s, false) })).json(), { id: 'ana', role: 'student', csrf: s.csrf, class: 'pair', title: 'Two hosts on a switch' });
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/logout', headers: as(s) })).statusCode, 200);
    assert.equal((await w.app.inject({ url: '/api/me', headers: as(s, false) })).statusCode, 401);
    const tls = await world({ secureCookies: true });
    assert.match((await login(tls, 'ben')).setCookie, /Secure/);
  });

  it("a student never reaches another student's lab, check, reset, topology or the class's results: 403", async () => {
    const w = await world();
    const ana = await login(w, 'ana');
    for (const url of ['/api/students/ben', '/api/students/ben/graph.svg', '/api/students/ben/activity', '/api/class', '/api/class/class.csv', '/api/class/report.html', '/api/class/junit/ben'])
      assert.equal((await w.app.inject({ url, headers: as(ana) })).statusCode, 403, url);
    for (const url of ['/api/students/ben/check', '/api/students/ben/reset', '/api/students/ben/rescue'])
      assert.equal((await w.app.inject({ method: 'POST', url, headers: as(ana), payload: { stage: 1 } })).statusCode, 403, url);
    assert.equal((await w.app.inject({ url: '/api/students/ana', headers: as(ana) })).statusCode, 200);
  });

  it('a state-changing request without the CSRF token, or from another origin, is refused', async () => {
    const w = await world();
    const ana = await login(w, 'ana');
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/students/ana/check', headers: as(ana, false) })).statusCode, 403);
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/students/ana/check', headers: { ...as(ana, false), [CSRF_HEADER]: 'guess' } })).statusCode, 403);
    const cross = await w.app.inject({ method: 'POST', url: '/api/students/ana/check', headers: { ...as(ana), origin: 'https://evil.example', host: 'localhost:80' } });
    assert.equal(cross.statusCode, 403);
    assert.match(cross.json().error, /cross-site/);
    const ok = await w.app.inject({ method: 'POST', url: '/api/students/ana/check', headers: as(ana) });
    assert.equal(ok.statusCode, 200, ok.body);
  });

  it('the 11th login attempt in a minute from one address is 429', async () => {
    const w = await world();
    const codes: number[] = [];
    for (let i = 0; i < 11; i++) codes.push((await w.app.inject({ method: 'POST', url: '/api/login', payload: { id: 'ana', password: `wrong-${i}` } })).statusCode);
    assert.deepEqual(codes, [...Array(10).fill(401), 429]);
  });

  it("check, reset and rescue run the class operations for that student; the teacher's table and files follow; nothing secret is logged", async () => {
    const w = await world();
    w.guests.respond = (vm, path) => (path === 'ping' ? { exitCode: 1 } : { exitCode: 0, stdout: 'inet 10.10.0.12/24' });
    const ana = await login(w, 'ana');
    const teach = await login(w, 'teach');
    const check = (await w.app.inject({ method: 'POST', url: '/api/students/ana/check', headers: as(ana) })).json();
    assert.equal(check.run.score, 1);
    assert.equal(check.run.maxScore, 4);
    const reset = await w.app.inject({ method: 'POST', url: '/api/students/ana/reset', headers: as(ana) });
    assert.equal(reset.statusCode, 200, reset.body);
    assert.match(reset.json().autosave.snapshot, /^autosave-/);
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/students/ana/rescue', headers: as(ana), payload: { stage: 7 } })).statusCode, 400);
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/students/ben/check', headers: as(teach) })).statusCode, 200, 'the teacher checks anyone');
    const table = (await w.app.inject({ url: '/api/class', headers: as(teach) })).json();
    assert.deepEqual(
      table.students.map((s: { student: string; running: number; score: { score: number } | null }) => [s.student, s.running, s.score?.score ?? null]),
      [
        ['ana', 2, 1],
        ['ben', 2, 1],
        ['cai', 2, null],
      ],
    );
    const csv = await w.app.inject({ url: '/api/class/class.csv', headers: as(teach) });
    assert.equal(csv.statusCode, 200);
    assert.deepEqual(
      csv.body
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[0]),
      ['ana', 'ben'],
      "one student's check keeps the other's row",
    );
    assert.match((await w.app.inject({ url: '/api/class/junit/ana', headers: as(teach) })).body, /<testsuite/);
    const log = w.logLines.join('\n');
    for (const l of Object.values(w.logins)) assert.ok(!log.includes(l.password));
    assert.ok(!log.includes(ana.cookie.split('=')[1]!));
    assert.match(log, /POST \/api\/students\/:id\/check 200 ana/);
  });

  it("long actions: a student's second action while the first runs is 409, another student's runs at once", async () => {
    const w = await world();
    const ana = await login(w, 'ana');
    const ben = await login(w, 'ben');
    const [first, second, other] = await Promise.all([
      w.app.inject({ method: 'POST', url: '/api/students/ana/check', headers: as(ana) }),
      w.app.inject({ method: 'POST', url: '/api/students/ana/reset', headers: as(ana) }),
      w.app.inject({ method: 'POST', url: '/api/students/ben/check', headers: as(ben) }),
    ]);
    assert.deepEqual([first.statusCode, second.statusCode, other.statusCode], [200, 409, 200]);
    assert.match(second.json().error, /^busy: check since /);
  });

  it("the console WebSocket: no session is 401, another student's console 403, another origin 403, an unknown VM 404 — before any upgrade", async () => {
    const w = await world();
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const port = (w.app.server.address() as { port: number }).port;
      const ana = await login(w, 'ana');
      const status = (path: string, headers: Record<string, string> = {}) =>
        new Promise<number>((resolve) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
          ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
          ws.on('open', () => {
            ws.close();
            resolve(101);
          });
          ws.on('error', () => undefined);
        });
      assert.equal(await status('/api/students/ana/vms/para/console'), 401);
      assert.equal(await status('/api/students/ben/vms/para/console', { cookie: ana.cookie }), 403);
      assert.equal(await status('/api/students/ana/vms/para/console', { cookie: ana.cookie, origin: 'https://evil.example' }), 403);
      assert.equal(await status('/api/students/ana/vms/nope/console', { cookie: ana.cookie }), 404);
    } finally {
      await w.app.close();
    }
  });

  it('undo goes back to an autosave only; check-all and the bench results are for the teacher', async () => {
    const w = await world();
    const ana = await login(w, 'ana');
    const teach = await login(w, 'teach');
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/students/ana/undo', headers: as(ana), payload: { snapshot: 'start' } })).statusCode, 400, 'a checkpoint is not an undo');
    const reset = (await w.app.inject({ method: 'POST', url: '/api/students/ana/reset', headers: as(ana) })).json();
    const undo = await w.app.inject({ method: 'POST', url: '/api/students/ana/undo', headers: as(ana), payload: { snapshot: reset.autosave.snapshot } });
    assert.equal(undo.statusCode, 200, undo.body);
    assert.equal(undo.json().revert.snapshot, reset.autosave.snapshot);
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/class/check', headers: as(ana) })).statusCode, 403);
    const all = await w.app.inject({ method: 'POST', url: '/api/class/check', headers: as(teach) });
    assert.equal(all.statusCode, 200, all.body);
    assert.equal(all.json().checked, 3);
    assert.equal((await w.app.inject({ url: '/api/bench/chart.svg', headers: as(ana) })).statusCode, 403);
    assert.equal((await w.app.inject({ method: 'POST', url: '/api/class/reset', headers: as(ana) })).statusCode, 403);
    const everyone = await w.app.inject({ method: 'POST', url: '/api/class/reset', headers: as(teach) });
    assert.deepEqual(everyone.json(), { reset: ['ana', 'ben', 'cai'], failed: [] });
  });

  it('under TLS (--tls-cert/--tls-key) the same server speaks HTTPS and its session cookie is Secure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmlab-tls-'));
    await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
    const w = await world({ secureCookies: true, https: { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) } });
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const port = (w.app.server.address() as { port: number }).port;
      const res = await new Promise<{ status: number; cookie: string; tls: boolean }>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port, path: '/api/login', method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (r) => {
          r.resume();
          resolve({ status: r.statusCode ?? 0, cookie: String(r.headers['set-cookie']), tls: (r.socket as TLSSocket).encrypted === true });
        });
        req.on('error', reject);
        req.end(JSON.stringify({ id: 'ana', password: w.logins.ana!.password }));
      });
      assert.deepEqual([res.status, res.tls], [200, true]);
      assert.match(res.cookie, /^__Host-vmlab_session=.*; Secure/);
    } finally {
      await w.app.close();
    }
  });
});
