import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CLI, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';
import { root } from '../helpers/lab.js';

const SHOTS = join(root, 'test-output', 'serve');
const PORT = 18000 + (process.pid % 1000);
const URL = `http://127.0.0.1:${PORT}/`;

/** Debian's Chromium, as root, with no background network (the machine has none). */
function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

async function logIn(browser: Browser, id: string, password: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1300, height: 1000 } })).newPage();
  await page.goto(URL);
  await page.fill('#login input[name=id]', id);
  await page.fill('#login input[name=password]', password);
  await page.click('#login button[type=submit]');
  return page;
}

/**
 * `vmlab serve` in a real browser: two students on the webserver lab (one
 * guest each) with the web-port assignment, and their teacher.
 */
describe('live: vmlab serve in Chromium (student console, check, reset; the teacher follows)', function () {
  this.timeout(20 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), 'vmlab-serve-'));
  const file = join(dir, 'web2.yaml');
  let server: ResultPromise | undefined;
  let browser: Browser | undefined;
  const pw: Record<string, string> = {};

  before(async () => {
    await requireLiveHost();
    mkdirSync(SHOTS, { recursive: true });
    writeFileSync(
      file,
      [
        'class: web2',
        // A title with markup: the page must show it as text.
        'title: "<script>window.__pwned = 1</script> Web lab"',
        `assignment: ${JSON.stringify(join(root, 'labs', 'assignments', 'web-port.yaml'))}`,
        'students: [{ id: ana, name: "Ana <b>A.</b>" }, ben]',
        'limits: { parallel-boots: 2 }',
        '',
      ].join('\n'),
    );
    await vmlab(['class', 'down', file]);
    const up = await vmlabJson(['class', 'up', file]);
    assert.equal(up.exitCode, 0, up.stderr);
    const creds = await vmlabJson(['class', 'credentials', file, '--teacher', 'teach', '--reissue']);
    assert.equal(creds.exitCode, 0, creds.stderr);
    for (const l of creds.json.made as Array<{ id: string; password: string }>) pw[l.id] = l.password;
    // Every test here logs in from 127.0.0.1: more than the default 10 attempts a minute (the limit itself: unit/serve*.test.ts).
    server = execa('node', [CLI, 'serve', file, '--listen', `127.0.0.1:${PORT}`, '--logins-per-minute', '100'], { reject: false, cwd: root });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('vmlab serve did not start in 30 s')), 30_000);
      server!.stderr!.on('data', (d: Buffer) => {
        if (/vmlab serve: class "web2" on http/.test(String(d))) {
          clearTimeout(t);
          resolve();
        }
      });
      void server!.then((r) => reject(new Error(`vmlab serve exited ${r.exitCode}: ${String(r.stderr)}`)));
    });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
    await server?.catch(() => undefined);
    await vmlab(['class', 'down', file]);
  });

  it('a student logs in and sees their own lab: topology, the VM with its device model and readiness, the task; markup shows as text', async () => {
    const page = await logIn(browser!, 'ana', pw.ana!);
    await page.waitForSelector('#student:not([hidden]) #vms tbody tr');
    assert.equal(await page.textContent('#title'), '<script>window.__pwned = 1</script> Web lab');
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.match((await page.textContent('#lab-title'))!, /^Ana <b>A\.<\/b>: lab webserver--ana$/);
    const row = (await page.textContent('#vms tbody tr'))!;
    assert.match(row, /^web.*running.*virtio.*(tcg|kvm).*10\.30\.0\.10\/24.*ready/);
    await page.waitForFunction(() => (document.getElementById('topology') as HTMLImageElement).naturalWidth > 0);
    assert.match((await page.textContent('#tasks'))!, /port 8080/);
    await page.screenshot({ path: join(SHOTS, '1-student-lab.png'), fullPage: true });
    await page.context().close();
  });

  it("a student types into their VM's serial console and reads the answer; after a reload the console comes back with its scrollback", async () => {
    const page = await logIn(browser!, 'ana', pw.ana!);
    await page.click('#vms tbody tr[data-vm=web] .open-console');
    await page.waitForSelector('.console[data-vm=web] .xterm');
    await page.click('.console[data-vm=web] .xterm');
    await page.keyboard.type('\n');
    await page.keyboard.type('hostname\n');
    const screen = () => page.evaluate(() => document.querySelector('.console[data-vm=web] .xterm-rows')?.textContent ?? '');
    await page.waitForFunction(() => /hostname\s*web\s*root@web/.test(document.querySelector('.console[data-vm=web] .xterm-rows')?.textContent ?? ''), undefined, { timeout: 30_000 });
    await page.screenshot({ path: join(SHOTS, '2-student-console.png'), fullPage: true });
    await page.reload();
    await page.waitForFunction(() => /hostname\s*web/.test(document.querySelector('.console[data-vm=web] .xterm-rows')?.textContent ?? ''), undefined, { timeout: 30_000 });
    assert.match(await screen(), /hostname\s*web/);
    await page.context().close();
  });

  it('Check my work shows the score table with the messages; Reset goes back to the start, autosaved', async () => {
    const page = await logIn(browser!, 'ana', pw.ana!);
    await page.waitForSelector('#check');
    await page.click('#check');
    await page.waitForFunction(() => /^Score \d+\/6/.test(document.getElementById('total')?.textContent ?? ''), undefined, { timeout: 120_000 });
    assert.match((await page.textContent('#total'))!, /^Score 2\/6: 2 passed, 2 failed/);
    assert.match((await page.textContent('#score'))!, /nothing answers on port 8080/);
    await page.screenshot({ path: join(SHOTS, '3-student-check.png'), fullPage: true });
    await page.click('#reset');
    await page.waitForFunction(() => /back at stage 1; your work was saved as autosave-/.test(document.getElementById('activity')?.textContent ?? ''), undefined, { timeout: 120_000 });
    await page.screenshot({ path: join(SHOTS, '4-student-reset.png'), fullPage: true });
    await page.context().close();
  });

  it("the teacher sees every student's row, and it follows when a student checks", async () => {
    const teacher = await logIn(browser!, 'teach', pw.teach!);
    await teacher.waitForSelector('#teacher:not([hidden]) #class tbody tr[data-student=ben]');
    const row = (s: string) => teacher.textContent(`#class tbody tr[data-student=${s}]`);
    assert.match((await row('ana'))!, /^anaAna <b>A\.<\/b>1\/11\s*2\/6/);
    assert.match((await row('ben'))!, /^ben1\/11-/);
    const ben = await logIn(browser!, 'ben', pw.ben!);
    await ben.waitForSelector('#check');
    await ben.click('#check');
    await ben.waitForFunction(() => /^Score/.test(document.getElementById('total')?.textContent ?? ''), undefined, { timeout: 120_000 });
    await teacher.waitForFunction(() => /2\/6/.test(document.querySelector('#class tbody tr[data-student=ben]')?.textContent ?? ''), undefined, { timeout: 30_000 });
    await teacher.screenshot({ path: join(SHOTS, '5-teacher-class.png'), fullPage: true });
    await teacher.fill('#filter', 'ben');
    assert.equal(await teacher.locator('#class tbody tr').count(), 1);
    await ben.context().close();
    await teacher.context().close();
  });

  // The review's findings, tried again against this real server process (unit/serve-hardening.test.ts has each on fakes).
  async function apiLogin(id: string, password = pw[id]!): Promise<{ status: number; cookie: string; csrf: string }> {
    const r = await fetch(`${URL}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, password }) });
    const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0]!;
    const body = (await r.json()) as { csrf?: string };
    return { status: r.status, cookie, csrf: body.csrf ?? '' };
  }

  it('a percent-encoded path meets the same checks: /%61pi/me without a session is 401; a cross-site write without the token is 403', async () => {
    assert.equal((await fetch(`${URL}%61pi/me`)).status, 401);
    const ana = await apiLogin('ana');
    assert.equal(ana.status, 200);
    const r = await fetch(`${URL}%61pi/students/ana/check`, { method: 'POST', headers: { cookie: ana.cookie, origin: 'https://evil.example' } });
    assert.equal(r.status, 403);
  });

  it("a student's guest printing control characters into a failing check's output does not stop the class's results", async () => {
    // ben serves, on 8080, a page of every control character instead of the host's name: that check fails with it as output.
    const evil = await vmlab([
      'exec',
      'webserver--ben',
      'web',
      '--',
      'sh',
      '-c',
      "mkdir -p /var/www/evil && printf 'a\\001\\002\\033[31m\\000z' > /var/www/evil/index.html && printf 'server { listen 8080; root /var/www/evil; }\\n' > /etc/nginx/sites-enabled/evil && nginx -s reload",
    ]);
    assert.equal(evil.exitCode, 0, String(evil.stderr));
    const teach = await apiLogin('teach');
    const all = await fetch(`${URL}api/class/check`, { method: 'POST', headers: { cookie: teach.cookie, 'x-vmlab-csrf': teach.csrf } });
    assert.equal(all.status, 200, await all.text());
    for (const path of ['api/class/class.csv', 'api/class/report.html', 'api/class/junit/ana', 'api/class/junit/ben']) {
      const r = await fetch(`${URL}${path}`, { headers: { cookie: teach.cookie } });
      assert.equal(r.status, 200, path);
    }
    const junit = await (await fetch(`${URL}api/class/junit/ben`, { headers: { cookie: teach.cookie } })).text();
    assert.match(junit, /\\x01\\x02\\x1b\[31m/);
  });

  it("a guest flooding its serial console: a viewer that never reads is closed, the server's memory stays bounded, the serial log is rotated", async () => {
    const ben = await apiLogin('ben');
    const pid = server!.pid!;
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
    const before = rss();
    const stalled = connect(PORT, '127.0.0.1');
    await new Promise((r) => stalled.once('connect', r));
    stalled.write(
      `GET /api/students/ben/vms/web/console HTTP/1.1\r\nHost: 127.0.0.1:${PORT}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: ${ben.cookie}\r\n\r\n`,
    );
    stalled.pause();
    const flood = await vmlab(['exec', 'webserver--ben', 'web', '--', 'timeout', '25', 'sh', '-c', 'yes yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy > /dev/ttyS0']);
    assert.equal(flood.exitCode, 124, `the flood ran its 25 s: ${String(flood.stderr)}`);
    const grown = (rss() - before) / 2 ** 20;
    process.stdout.write(`      [live] vmlab serve grew ${grown.toFixed(0)} MiB during a 25 s console flood with a viewer that never reads\n`);
    assert.ok(grown < 100, `vmlab serve grew ${grown.toFixed(0)} MiB`);
    stalled.destroy();
    const log = '/var/lib/vmlab/labs/webserver--ben/web/console.log';
    assert.ok(statSync(log).size <= 3 * 2 ** 20, `the serial log is ${statSync(log).size} bytes`);
  });

  it('a revoke while the server runs: the student is logged out at once and the old password refused; a reissue lets them in with the new one', async () => {
    const ben = await apiLogin('ben');
    assert.equal((await fetch(`${URL}api/me`, { headers: { cookie: ben.cookie } })).status, 200);
    const revoke = await vmlab(['class', 'credentials', file, '--revoke', 'ben']);
    assert.equal(revoke.exitCode, 0, String(revoke.stderr));
    assert.equal((await fetch(`${URL}api/me`, { headers: { cookie: ben.cookie } })).status, 401);
    assert.equal((await apiLogin('ben')).status, 401);
    const again = await vmlabJson(['class', 'credentials', file, '--student', 'ben']);
    assert.equal(again.exitCode, 0, again.stderr);
    const fresh = (again.json.made as Array<{ id: string; password: string }>).find((l) => l.id === 'ben')!.password;
    assert.equal((await apiLogin('ben', pw.ben)).status, 401, 'the old password stays refused');
    assert.equal((await apiLogin('ben', fresh)).status, 200);
  });
});
