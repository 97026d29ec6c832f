/**
 * `npm run bench:serve`: vmlab serve under a class's load, on 127.0.0.1 only,
 * bounded in count and time. A class of two students (the webserver lab, one
 * guest each, with the web-port assignment):
 * 1. 40 console WebSockets at once (20 on each student's VM); one of them types
 *    a command that prints 1…N; every socket must receive every line, in order
 *    (no dropped console bytes).
 * 2. 40 "check" requests at once (20 per student): every one is answered, with
 *    a score or with "busy" (a student's actions run one at a time).
 * 3. The page API's latency while that runs (/api/me, /api/class, a student's
 *    lab): median and p95 of every request.
 * Writes bench-results/serve.json.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { AccountStore, classLogins } from '../class/accounts.js';
import { loadClassForHost } from '../class/context.js';
import { classDown } from '../class/ops.js';
import { classUp } from '../class/up.js';
import { bridgeExists } from '../host/host-net.js';
import { hostDisks } from '../lab-ops/disks.js';
import { openRuntime } from '../lab-ops/host-lab.js';
import { defaultHostPaths, packageRoot } from '../paths.js';
import { buildApp, CSRF_HEADER } from './app.js';

const SOCKETS = 40;
const CHECKS = 40;
const LINES = Number(process.env.VMLAB_BENCH_LINES ?? 2000);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main(): Promise<void> {
  const paths = defaultHostPaths();
  const dir = mkdtempSync(join(tmpdir(), 'vmlab-bench-serve-'));
  const file = join(dir, 'load.yaml');
  writeFileSync(file, `class: load\nassignment: ${JSON.stringify(join(packageRoot, 'labs', 'assignments', 'web-port.yaml'))}\nstudents: [s1, s2]\nlimits: { parallel-boots: 2 }\n`);
  const ctx = loadClassForHost(file, paths);
  const rt = await openRuntime(paths);
  const deadline = Date.now() + 15 * 60_000;
  try {
    process.stdout.write('bench:serve: a class of 2 on labs/webserver.yaml (web-port), server on 127.0.0.1\n');
    const up = await classUp(rt, ctx, { disks: hostDisks, bridgeExists });
    if (!up.students.every((s) => s.ok)) throw new Error('the class is not up');
    const accounts = new AccountStore(paths.dataDir, ctx.cls.name);
    const logins = await accounts.issue(classLogins(ctx.cls), { reissue: true });
    const app = await buildApp({ ctx, rt, accounts, resultsDir: join(dir, 'results'), secureCookies: false, loginsPerMinute: 1000, log: () => undefined });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const session = async (id: string) => {
      const r = await fetch(`http://${base}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, password: logins.find((l) => l.id === id)!.password }),
      });
      const cookie = r.headers.get('set-cookie')!.split(';')[0]!;
      return { cookie, csrf: ((await r.json()) as { csrf: string }).csrf };
    };
    const sessions = { s1: await session('s1'), s2: await session('s2') };

    // The page API, polled throughout.
    const latency: Record<string, number[]> = { '/api/me': [], '/api/students/:id': [] };
    let polling = true;
    const poll = (async () => {
      while (polling && Date.now() < deadline) {
        for (const [route, url] of [
          ['/api/me', '/api/me'],
          ['/api/students/:id', '/api/students/s1'],
        ] as const) {
          const t0 = performance.now();
          const r = await fetch(`http://${base}${url}`, { headers: { cookie: sessions.s1.cookie } });
          await r.arrayBuffer();
          latency[route]!.push(performance.now() - t0);
        }
      }
    })();

    // 1. Forty consoles; one types, all must see every line.
    const sockets = await Promise.all(
      Array.from({ length: SOCKETS }, (_, i) => {
        const student = i % 2 ? 's2' : 's1';
        return new Promise<{ ws: WebSocket; student: string; text: () => string }>((resolve, reject) => {
          const ws = new WebSocket(`ws://${base}/api/students/${student}/vms/web/console`, { headers: { cookie: sessions[student].cookie } });
          let text = '';
          ws.on('message', (d: Buffer) => (text += d.toString('utf8')));
          ws.on('open', () => resolve({ ws, student, text: () => text }));
          ws.on('error', reject);
        });
      }),
    );
    const marker = `vmlab-${Date.now()}`;
    for (const student of ['s1', 's2']) sockets.find((s) => s.student === student)!.ws.send(JSON.stringify({ type: 'input', data: `\rseq -f '${marker}-%g' 1 ${LINES}\r` }));
    const complete = (t: string) => t.includes(`${marker}-${LINES}\r\n`);
    const t0 = Date.now();
    while (!sockets.every((s) => complete(s.text())) && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 250));
    const consoleMs = Date.now() - t0;
    if (process.env.VMLAB_BENCH_DEBUG) process.stdout.write(JSON.stringify(sockets[0]!.text().slice(-600)) + '\n');
    const intact = sockets.map((s) => {
      const got = [...s.text().matchAll(new RegExp(`${marker}-(\\d+)\\r\\n`, 'g'))].map((m) => Number(m[1]));
      return got.length === LINES && got.every((n, i) => n === i + 1);
    });
    for (const s of sockets) s.ws.close();

    // 2. Forty checks at once.
    const t1 = Date.now();
    const answers = await Promise.all(
      Array.from({ length: CHECKS }, async (_, i) => {
        const student = i % 2 ? 's2' : 's1';
        const s = sessions[student];
        const r = await fetch(`http://${base}/api/students/${student}/check`, { method: 'POST', headers: { cookie: s.cookie, [CSRF_HEADER]: s.csrf, 'content-type': 'application/json' }, body: '{}' });
        return r.status;
      }),
    );
    const checksMs = Date.now() - t1;
    polling = false;
    await poll;
    await app.close();

    const results = {
      sockets: SOCKETS,
      linesPerConsole: LINES,
      consolesIntact: intact.filter(Boolean).length,
      consoleMs,
      checks: { sent: CHECKS, ok: answers.filter((c) => c === 200).length, busy: answers.filter((c) => c === 409).length, other: answers.filter((c) => c !== 200 && c !== 409), ms: checksMs },
      latencyMs: Object.fromEntries(Object.entries(latency).map(([k, v]) => [k, { n: v.length, median: pct(v, 50), p95: pct(v, 95), max: Math.max(...v) }])),
    };
    process.stdout.write(
      [
        `consoles: ${results.consolesIntact}/${SOCKETS} received all ${LINES} lines in order (${(consoleMs / 1000).toFixed(1)} s)`,
        `checks: ${CHECKS} sent at once: ${results.checks.ok} scored, ${results.checks.busy} answered busy (one action at a time per student), ${results.checks.other.length} other, in ${(checksMs / 1000).toFixed(1)} s`,
        ...Object.entries(results.latencyMs).map(([k, v]) => `GET ${k}: ${v.n} requests, median ${v.median.toFixed(0)} ms, p95 ${v.p95.toFixed(0)} ms, max ${v.max.toFixed(0)} ms`),
      ].join('\n') + '\n',
    );
    mkdirSync('bench-results', { recursive: true });
    writeFileSync(join('bench-results', 'serve.json'), JSON.stringify(results, null, 2) + '\n');
    process.stdout.write('wrote bench-results/serve.json\n');
    if (results.consolesIntact !== SOCKETS || results.checks.other.length) process.exitCode = 1;
  } finally {
    await classDown(rt, ctx.cls.name, { disks: hostDisks });
    rt.hypervisor.close();
  }
}

main().catch((e) => {
  process.stderr.write(`bench:serve failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
