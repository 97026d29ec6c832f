import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packageRoot } from '../paths.js';

/**
 * The browser side: one page and its script, no build step. Every value from
 * a guest, a lab or a class file is put into the page as text (textContent),
 * never as HTML, and the Content-Security-Policy allows scripts from this
 * server only.
 */
const CSP = "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export function pageRoutes() {
  const dir = join(packageRoot, 'src', 'serve', 'public');
  const xterm = dirname(createRequire(import.meta.url).resolve('@xterm/xterm/package.json'));
  const assets: Record<string, [string, string]> = {
    '/': [join(dir, 'index.html'), 'text/html; charset=utf-8'],
    '/app.js': [join(dir, 'app.js'), 'text/javascript; charset=utf-8'],
    '/app.css': [join(dir, 'app.css'), 'text/css; charset=utf-8'],
    '/xterm.js': [join(xterm, 'lib', 'xterm.js'), 'text/javascript; charset=utf-8'],
    '/xterm.css': [join(xterm, 'css', 'xterm.css'), 'text/css; charset=utf-8'],
  };
  return async (app: FastifyInstance) => {
    for (const [url, [file, type]] of Object.entries(assets)) {
      app.get(url, async (_req, reply) =>
        reply.type(type).header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').send(readFileSync(file)),
      );
    }
  };
}
