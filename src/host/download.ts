import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { VmlabError } from '../errors.js';

export interface DownloadEvents {
  progress?(received: number, total: number | undefined): void;
}

function get(url: string, headers: Record<string, string>, redirects = 5): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { headers }, (res) => {
      const loc = res.headers.location;
      if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && loc) {
        res.resume();
        if (redirects === 0) return reject(new VmlabError('ERR_VMLAB_DOWNLOAD', `too many redirects from ${url}`));
        return resolve(get(new URL(loc, url).toString(), headers, redirects - 1));
      }
      resolve(res);
    });
    req.setTimeout(60_000, () => req.destroy(new Error('no data for 60 s')));
    req.on('error', (e) =>
      reject(new VmlabError('ERR_VMLAB_DOWNLOAD', `cannot download ${url}: ${e.message}`, { cause: e, hint: 'check the network; an interrupted download resumes on the next try' })),
    );
  });
}

export async function fetchText(url: string): Promise<string> {
  const res = await get(url, {});
  if (res.statusCode !== 200) {
    res.resume();
    throw new VmlabError('ERR_VMLAB_DOWNLOAD', `${url}: HTTP ${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Downloads `url` to `dest`, resuming a partial `dest` with an HTTP Range
 * request. A transfer that ends before Content-Length is an error; the partial
 * file stays for the next try.
 */
export async function downloadResumable(url: string, dest: string, events: DownloadEvents = {}): Promise<void> {
  const have = existsSync(dest) ? statSync(dest).size : 0;
  const res = await get(url, have > 0 ? { Range: `bytes=${have}-` } : {});
  let offset = 0;
  if (res.statusCode === 206) offset = have;
  else if (res.statusCode === 416 && have > 0) {
    res.resume();
    return; // already complete
  } else if (res.statusCode !== 200) {
    res.resume();
    throw new VmlabError('ERR_VMLAB_DOWNLOAD', `${url}: HTTP ${res.statusCode}`, { hint: 'the catalog URL may be outdated' });
  }
  const length = res.headers['content-length'] ? Number(res.headers['content-length']) : undefined;
  const total = length !== undefined ? offset + length : undefined;
  const out = createWriteStream(dest, { flags: offset > 0 ? 'a' : 'w' });
  let received = offset;
  try {
    await new Promise<void>((resolve, reject) => {
      res.on('data', (c: Buffer) => {
        received += c.length;
        events.progress?.(received, total);
      });
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('connection closed')));
      res.pipe(out);
      out.on('finish', resolve);
      out.on('error', reject);
    });
  } catch (e) {
    out.destroy();
    throw new VmlabError('ERR_VMLAB_DOWNLOAD_INCOMPLETE', `download of ${url} was interrupted at ${received} bytes`, { cause: e, hint: 'run the same command again to resume' });
  }
  if (total !== undefined && received !== total) {
    throw new VmlabError('ERR_VMLAB_DOWNLOAD_INCOMPLETE', `download of ${url} ended at ${received} of ${total} bytes`, { hint: 'run the same command again to resume' });
  }
}

export async function digestFile(path: string, algorithm: 'sha256' | 'sha512'): Promise<string> {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Verifies a finished download; a mismatch deletes the file (it can never become right). */
export async function verifyOrDelete(path: string, algorithm: 'sha256' | 'sha512', expected: string): Promise<void> {
  const actual = await digestFile(path, algorithm);
  if (actual !== expected.toLowerCase()) {
    rmSync(path, { force: true });
    throw new VmlabError('ERR_VMLAB_CHECKSUM_MISMATCH', `${algorithm} of the download does not match the catalog: got ${actual}, expected ${expected}; the file was deleted`, {
      hint: 'the mirror may serve a newer image than its checksum file, or the transfer was corrupted; try again later',
    });
  }
}
