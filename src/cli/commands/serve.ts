import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import { AccountStore } from '../../class/accounts.js';
import { loadClassForHost } from '../../class/context.js';
import { VmlabError } from '../../errors.js';
import { buildApp } from '../../serve/app.js';
import { hostPaths, openRuntime, type GlobalOpts } from '../context.js';
import { positiveInt } from '../options.js';
import { reportErrors } from '../output.js';

interface ServeOpts {
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  insecureHttp?: boolean;
  trustProxy?: string;
  loginsPerMinute?: number;
}

/** ADDR:PORT (an IPv6 address in brackets). */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(s);
  const host = m?.[1]?.replace(/^\[|\]$/g, '');
  const port = Number(m?.[2]);
  if (!m || !host || !(isIPv4(host) || isIPv6(host) || host === 'localhost') || port < 1 || port > 65535) {
    throw new VmlabError('ERR_VMLAB_USAGE', `--listen "${s}" is not ADDR:PORT`, { kind: 'user', hint: 'e.g. --listen 127.0.0.1:8080 or --listen [::1]:8080' });
  }
  return { host, port };
}

/** --trust-proxy: addresses or CIDRs, comma-separated; never "everyone" (then any client could claim any address). */
export function parseTrustProxy(s: string): string {
  const parts = s.split(',').map((p) => p.trim());
  const ok = (p: string) => {
    const [addr, bits, extra] = p.split('/');
    if (extra !== undefined || !addr || !(isIPv4(addr) || isIPv6(addr))) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return /^\d+$/.test(bits) && n >= 8 && n <= (isIPv4(addr) ? 32 : 128);
  };
  const bad = parts.find((p) => !ok(p));
  if (bad !== undefined)
    throw new VmlabError('ERR_VMLAB_USAGE', `--trust-proxy "${bad}" is not an address or a CIDR of at least /8`, {
      kind: 'user',
      hint: 'the address of your reverse proxy, e.g. --trust-proxy 127.0.0.1',
    });
  return parts.join(',');
}

export const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host);

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('the class in a browser: students log in to their own lab (checks, reset, rescue), the teacher sees the class table (logins: vmlab class credentials)')
    .argument('<class>', 'class file')
    .option('--listen <addr:port>', 'where to listen', '127.0.0.1:8080')
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--insecure-http', 'allow plain HTTP on an address other than loopback')
    .option('--logins-per-minute <n>', 'login attempts per client address and minute before 429 (default 10; a class behind one NAT address needs more)', positiveInt(10_000))
    .option('--trust-proxy <addr>', 'the TLS reverse proxy in front (address or CIDR, comma-separated): X-Forwarded-Proto/-Host/-For are believed from it only')
    .action((file: string, opts: ServeOpts, cmd: Command) =>
      reportErrors({}, async () => {
        const g = cmd.optsWithGlobals() as GlobalOpts;
        const { host, port } = parseListen(opts.listen);
        if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new VmlabError('ERR_VMLAB_USAGE', '--tls-cert and --tls-key go together', { kind: 'user' });
        const tls = opts.tlsCert && opts.tlsKey ? { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey) } : undefined;
        const trustProxy = opts.trustProxy === undefined ? undefined : parseTrustProxy(opts.trustProxy);
        if (!tls && !isLoopback(host) && !opts.insecureHttp) {
          throw new VmlabError('ERR_VMLAB_SERVE_INSECURE', `refusing plain HTTP on ${host}: passwords and session cookies would cross the network in clear text`, {
            kind: 'user',
            hint: 'give --tls-cert FILE --tls-key FILE, listen on 127.0.0.1 behind a TLS proxy, or pass --insecure-http on a network you trust',
          });
        }
        const paths = hostPaths(g);
        const ctx = loadClassForHost(file, paths);
        const accounts = new AccountStore(paths.dataDir, ctx.cls.name);
        if (!accounts.list().some((a) => !a.revokedAt)) {
          throw new VmlabError('ERR_VMLAB_SERVE_NO_LOGINS', `class "${ctx.cls.name}" has no logins yet`, { kind: 'user', hint: `vmlab class credentials ${file} --teacher <your-id>` });
        }
        const rt = await openRuntime(g);
        const app = await buildApp({
          ctx,
          rt,
          accounts,
          resultsDir: join(paths.dataDir, 'classes', ctx.cls.name),
          secureCookies: Boolean(tls),
          ...(tls ? { https: tls } : {}),
          ...(trustProxy ? { trustProxy } : {}),
          ...(opts.loginsPerMinute ? { loginsPerMinute: opts.loginsPerMinute } : {}),
        });
        const stop = async () => {
          await app.close();
          rt.hypervisor.close();
          process.exit(0);
        };
        process.once('SIGINT', () => void stop());
        process.once('SIGTERM', () => void stop());
        await app.listen({ host, port });
        process.stderr.write(`vmlab serve: class "${ctx.cls.name}" on ${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/ (Ctrl-C stops)\n`);
      }),
    );
}
