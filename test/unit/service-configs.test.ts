import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { renderLab } from '../../src/render/index.js';
import { exampleLabs, planFromText } from '../helpers/lab.js';
import { renderExample } from '../helpers/render.js';
import { requireTool, run } from '../helpers/tools.js';
import { readFileSync } from 'node:fs';
import { root } from '../helpers/lab.js';

interface WriteFile {
  path: string;
  content: string;
}

/** Every file the services of every example lab write into a guest, per VM. */
function serviceFiles(): Array<{ lab: string; vm: string; files: WriteFile[] }> {
  return exampleLabs().flatMap((rel) =>
    renderExample(rel)
      .vms.filter((v) => v.files['user-data'])
      .map((v) => ({ lab: rel, vm: v.name, files: (YAML.parse(v.files['user-data']!) as { write_files?: WriteFile[] }).write_files ?? [] })),
  );
}

/**
 * The daemons the services configure are the judges of the configuration
 * files: dnsmasq --test and nft --check read exactly what the guest will read.
 */
describe("service configuration files pass the daemons' own checks", function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    requireTool('dnsmasq', 'dnsmasq-base');
    requireTool('nft', 'nftables');
    dir = mkdtempSync(join(tmpdir(), 'vmlab-svc-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("dnsmasq --test accepts every VM's /etc/dnsmasq.d (dhcp, dhcp-relay, dns)", async () => {
    let checked = 0;
    for (const { lab, vm, files } of serviceFiles()) {
      const confs = files.filter((f) => f.path.startsWith('/etc/dnsmasq.d/'));
      if (!confs.length) continue;
      const d = join(dir, 'dnsmasq', lab.replace(/\W/g, '_'), vm);
      mkdirSync(d, { recursive: true });
      for (const f of confs) writeFileSync(join(d, f.path.split('/').pop()!), f.content);
      const r = await run('dnsmasq', ['--test', `--conf-file=/dev/null`, `--conf-dir=${d}`]);
      assert.equal(r.exitCode, 0, `${lab} ${vm}: ${r.all}`);
      assert.match(r.all ?? '', /syntax check OK/);
      checked++;
    }
    assert.ok(checked >= 2, 'the network lab has a DHCP/DNS server and a relay');
  });

  it("nft --check accepts every VM's nftables ruleset (nat, firewall)", async () => {
    let checked = 0;
    for (const { lab, vm, files } of serviceFiles()) {
      const rules = files.filter((f) => f.path.startsWith('/etc/nftables.d/'));
      if (!rules.length) continue;
      const path = join(dir, `${lab.replace(/\W/g, '_')}-${vm}.nft`);
      writeFileSync(path, rules.map((f) => f.content).join('\n'));
      const r = await run('nft', ['--check', '--file', path]);
      assert.equal(r.exitCode, 0, `${lab} ${vm}: ${r.all}`);
      checked++;
    }
    assert.ok(checked >= 1, 'the network lab has a NAT router with a firewall');
  });

  it('the checks can fail: a broken dnsmasq option and a broken nft rule are rejected', async () => {
    const d = join(dir, 'broken');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'x.conf'), 'dhcp-range=not-an-address\n');
    assert.notEqual((await run('dnsmasq', ['--test', '--conf-file=/dev/null', `--conf-dir=${d}`])).exitCode, 0);
    const nft = join(dir, 'broken.nft');
    writeFileSync(nft, 'table inet t { chain c { type filter hook forward priority filter; policy maybe; } }\n');
    assert.notEqual((await run('nft', ['--check', '--file', nft])).exitCode, 0);
  });
});

describe('service parameters are checked against the VM', () => {
  const lab = readFileSync(join(root, 'labs', 'linux-network.yaml'), 'utf8');
  const issuesOf = (text: string) => {
    try {
      planFromText(text, 'labs/linux-network.yaml');
    } catch (e) {
      return (e as { issues?: Array<{ path: string; message: string; hint?: string; line?: number }> }).issues ?? [];
    }
    assert.fail('the lab was accepted');
  };

  it("an interface the VM does not have is named with the VM's interfaces as hint", () => {
    const [i] = issuesOf(lab.replace('nat: { outside: eth2 }', 'nat: { outside: eth3 }'));
    assert.equal(i!.path, 'vms.r2.services[2].nat.outside');
    assert.match(i!.message, /no interface "eth3"/);
    assert.match(i!.hint!, /eth2 \(nics\[2\], network outside\)/);
    assert.ok(i!.line! > 1);
  });

  it('a DHCP range outside its subnet, an OSPF network matching no address, a NAT without router', () => {
    const issues = issuesOf(
      lab
        .replace('end: 10.2.0.199, gateway: 10.2.0.1', 'end: 10.3.0.199, gateway: 10.2.0.1')
        .replace('- { prefix: 10.1.0.0/24, area: 0 }', '- { prefix: 10.9.0.0/24, area: 0 }')
        .replace(/(r2:[\s\S]*?services:\n)\s+- router\n/, '$1'),
    );
    const paths = issues.map((i) => `${i.path}: ${i.message}`);
    assert.ok(
      paths.some((p) => /vms\.srv\.services\[0\]\.dhcp\.ranges\[0\]\.end: is not in 10\.2\.0\.0\/24/.test(p)),
      paths.join('\n'),
    );
    assert.ok(
      paths.some((p) => /vms\.r1\.services\[1\]\.ospf\.networks\[0\]\.prefix: matches none/.test(p)),
      paths.join('\n'),
    );
    assert.ok(
      paths.some((p) => /vms\.r2\.services: service "nat" needs the "router" service/.test(p)),
      paths.join('\n'),
    );
  });

  it('"dhcp" on a LAN is accepted when a relay, not a server, sits on it', () => {
    assert.ok(planFromText(lab, 'labs/linux-network.yaml'));
    const issues = issuesOf(lab.replace(/\n {6}- dhcp-relay: \{[^}]*\}/, ''));
    assert.ok(issues.some((i) => i.path === 'vms.client1.nics[0].ip' && /no VM there runs the "dhcp" service/.test(i.message)));
  });

  it('service files in the rendered lab are what the lab file asks for', () => {
    const r = renderLab(planFromText(lab, 'labs/linux-network.yaml'));
    const files = (vm: string) => YAML.parse(r.vms.find((v) => v.name === vm)!.files['user-data']!).write_files as WriteFile[];
    const relay = files('r1').find((f) => f.path.endsWith('vmlab-dhcp-relay.conf'))!;
    assert.match(relay.content, /^dhcp-relay=10\.1\.0\.1,10\.2\.0\.10$/m);
    const fw = files('r2').find((f) => f.path.endsWith('vmlab-firewall.nft'))!;
    assert.match(fw.content, /policy drop;[\s\S]*oifname "eth2" meta l4proto tcp tcp dport \{ 80 \} counter accept/);
    const dns = files('srv').find((f) => f.path.endsWith('vmlab-dns.conf'))!;
    assert.match(dns.content, /^host-record=web\.netlab\.test,10\.2\.0\.10$/m);
    assert.equal(files('r2').filter((f) => f.path === '/etc/nftables.conf').length, 1, 'nat and firewall share nftables.conf once');
  });
});
