import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
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
    server = execa('node', [CLI, 'serve', file, '--listen', `127.0.0.1:${PORT}`], { reject: false, cwd: root });
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
});
