import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { root } from '../helpers/lab.js';
import { requireTool } from '../helpers/tools.js';

const CLI = join(root, 'dist', 'src', 'cli', 'main.js');

/**
 * `vmlab image pull` and `import` against a local HTTP server on loopback
 * (127.0.0.1 only) and small files made here; no other network.
 */
describe('image pull and import (loopback HTTP server)', function () {
  this.timeout(60_000);
  let dir: string;
  let server: http.Server;
  let base: string;
  let image: Buffer;
  let truncateNext = false;
  let rangeRequests = 0;

  const vmlab = (args: string[]) => execa('node', [CLI, '--data-dir', join(dir, 'data'), ...args], { reject: false, env: { VMLAB_CATALOG: join(dir, 'catalog.yaml') } });
  const catalog = (entries: Record<string, { file: string; checksum?: string; checksumUrl?: string; algorithm?: string }>) =>
    writeFileSync(
      join(dir, 'catalog.yaml'),
      'images:\n' +
        Object.entries(entries)
          .map(
            ([n, e]) =>
              `  ${n}:\n    url: ${base}/${e.file}\n` +
              (e.checksum ? `    checksum: ${e.checksum}\n` : '') +
              (e.checksumUrl ? `    checksum-url: ${e.checksumUrl}\n` : '') +
              `    algorithm: ${e.algorithm ?? 'sha256'}\n`,
          )
          .join(''),
    );

  before(async () => {
    requireTool('qemu-img', 'qemu-utils');
    dir = mkdtempSync(join(tmpdir(), 'vmlab-pull-'));
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'tiny.qcow2'), '16M']);
    image = readFileSync(join(dir, 'tiny.qcow2'));
    const sha = createHash('sha256').update(image).digest('hex');
    writeFileSync(join(dir, 'SHA256SUMS'), `${sha}  tiny.qcow2\n${'0'.repeat(64)}  other.qcow2\n`);
    server = http.createServer((req, res) => {
      const name = (req.url ?? '/').slice(1);
      const body = name === 'SHA256SUMS' ? readFileSync(join(dir, 'SHA256SUMS')) : name === 'tiny.qcow2' ? image : undefined;
      if (!body) return res.writeHead(404).end();
      const range = /bytes=(\d+)-/.exec(String(req.headers.range ?? ''));
      const start = range ? Number(range[1]) : 0;
      if (range) rangeRequests++;
      res.writeHead(range ? 206 : 200, { 'content-length': body.length - start });
      if (truncateNext && name === 'tiny.qcow2') {
        truncateNext = false;
        res.write(body.subarray(start, start + Math.floor((body.length - start) / 2)));
        setTimeout(() => res.destroy(), 50);
        return;
      }
      res.end(body.subarray(start));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pulls with the right checksum (from a checksum file) and adds the image', async () => {
    catalog({ tiny: { file: 'tiny.qcow2', checksumUrl: `${base}/SHA256SUMS` } });
    const r = await vmlab(['image', 'pull', 'tiny', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.image.name, 'tiny');
    assert.equal(j.image.source, 'pull');
    const list = JSON.parse((await vmlab(['image', 'list', '--json'])).stdout);
    assert.ok(list.images.some((i: { name: string }) => i.name === 'tiny'));
  });

  it('refuses a checksum mismatch and deletes the bad file', async () => {
    catalog({ bad: { file: 'tiny.qcow2', checksum: 'ab'.repeat(32) } });
    const r = await vmlab(['image', 'pull', 'bad']);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /ERR_VMLAB_CHECKSUM_MISMATCH/);
    assert.ok(!readdirSync(join(dir, 'data', 'images')).some((f) => f.startsWith('bad') || f.startsWith('.bad')), 'no file of "bad" left');
  });

  it('a truncated transfer fails, keeps the partial file, and the next pull resumes it', async () => {
    const sha = createHash('sha256').update(image).digest('hex');
    catalog({ resumable: { file: 'tiny.qcow2', checksum: sha } });
    truncateNext = true;
    const r1 = await vmlab(['image', 'pull', 'resumable']);
    assert.equal(r1.exitCode, 1);
    assert.match(r1.stderr, /interrupted|ended at/);
    const partial = join(dir, 'data', 'images', '.resumable.download');
    assert.ok(existsSync(partial), 'partial download kept for resuming');
    const before = rangeRequests;
    const r2 = await vmlab(['image', 'pull', 'resumable', '--json']);
    assert.equal(r2.exitCode, 0, r2.stderr);
    assert.equal(rangeRequests, before + 1, 'the second pull asked for the rest only (HTTP Range)');
    assert.equal(existsSync(partial), false);
  });

  it('an unknown catalog name is a user error with a suggestion', async () => {
    catalog({ tiny: { file: 'tiny.qcow2', checksumUrl: `${base}/SHA256SUMS` } });
    const r = await vmlab(['image', 'pull', 'tinny']);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /did you mean "tiny"/);
  });

  it('import refuses what is not a disk image, accepts a raw disk with a partition table', async () => {
    writeFileSync(join(dir, 'notes.txt'), 'this is not a disk\n'.repeat(100));
    const bad = await vmlab(['image', 'import', join(dir, 'notes.txt'), '--name', 'notes']);
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /not a disk image/);
    const raw = join(dir, 'disk.raw');
    await execa('truncate', ['-s', '4M', raw]);
    await execa('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', raw], { input: 'label: dos\n,,83\n' });
    const ok = await vmlab(['image', 'import', raw, '--name', 'rawdisk', '--json']);
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).image.format, 'qcow2');
    const rm = await vmlab(['image', 'remove', 'rawdisk', '--json']);
    assert.equal(rm.exitCode, 0, rm.stderr);
    assert.ok(!readdirSync(join(dir, 'data', 'images')).some((f) => f.startsWith('rawdisk')));
  });
});
