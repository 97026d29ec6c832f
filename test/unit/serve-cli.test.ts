import assert from 'node:assert/strict';
import { execa } from 'execa';
import { isLoopback, parseListen, parseTrustProxy } from '../../src/cli/commands/serve.js';
import { CLI } from '../helpers/live.js';
import { root } from '../helpers/lab.js';

describe('vmlab serve: where it listens', () => {
  it('--listen takes ADDR:PORT (IPv6 in brackets); anything else is a usage error', () => {
    assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
    for (const bad of ['8080', 'localhost', '1.2.3.4:0', '1.2.3.4:70000', 'example.com:80']) assert.throws(() => parseListen(bad), /is not ADDR:PORT/, bad);
    assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('localhost') && !isLoopback('0.0.0.0') && !isLoopback('10.0.0.1'));
  });

  it('--trust-proxy takes addresses or CIDRs of the proxy, never everyone', () => {
    assert.equal(parseTrustProxy('127.0.0.1'), '127.0.0.1');
    assert.equal(parseTrustProxy('127.0.0.1, ::1,10.1.0.0/16'), '127.0.0.1,::1,10.1.0.0/16');
    for (const bad of ['0.0.0.0/0', '::/0', 'true', '*', 'proxy.example', '10.0.0.0/33', '1.2.3.4/8/1', '']) assert.throws(() => parseTrustProxy(bad), /--trust-proxy/, bad);
  });

  it('refuses plain HTTP on an address other than loopback, and says why (exit 2), unless --insecure-http', async () => {
    const r = await execa('node', [CLI, 'serve', 'classes/pair.yaml', '--listen', '0.0.0.0:8080'], { reject: false, cwd: root });
    assert.equal(r.exitCode, 2);
    assert.match(String(r.stderr), /refusing plain HTTP on 0\.0\.0\.0: passwords and session cookies would cross the network in clear text/);
    assert.match(String(r.stderr), /--tls-cert FILE --tls-key FILE/);
    const half = await execa('node', [CLI, 'serve', 'classes/pair.yaml', '--tls-cert', 'x.pem'], { reject: false, cwd: root });
    assert.equal(half.exitCode, 2);
    assert.match(String(half.stderr), /--tls-cert and --tls-key go together/);
  });
});
