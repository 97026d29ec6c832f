import assert from 'node:assert/strict';
import type { VmlabError } from '../../src/errors.js';
import { GuestAgent } from '../../src/guest/agent.js';
import { waitProbes } from '../../src/lab-ops/readiness.js';
import { labStatus } from '../../src/lab-ops/status.js';
import { upLab } from '../../src/lab-ops/up.js';
import { renderProbes } from '../../src/render/probes.js';
import { defaultServiceCatalog } from '../../src/services/catalog.js';
import { FakeGuests, FakeGuestTransport, fakeRuntime } from '../helpers/fake-runtime.js';
import { labErrorOf, MINIMAL, planFromText, readLab } from '../helpers/lab.js';

const net = planFromText(readLab('labs/linux-network.yaml'), 'labs/linux-network.yaml');
const probesOf = (vm: string) =>
  renderProbes(
    net,
    net.vms.find((v) => v.name === vm)!,
  );

describe('readiness probes: what "working" means', () => {
  it('every service declares its probes (templates/services/<name>/ready.yaml.hbs)', () => {
    const cat = defaultServiceCatalog();
    for (const name of cat.names()) assert.ok(cat.get(name)!.readyTemplate, `service ${name} has no ready.yaml.hbs`);
  });

  it("OSPF expects every prefix the lab's routers announce, and the default route only from another router", () => {
    const ospf = (vm: string) => probesOf(vm).find((p) => p.source === 'service ospf')!;
    assert.deepEqual(ospf('r1').run, ['vtysh', '-c', 'show ip route ospf json']);
    assert.deepEqual(ospf('r1').expect.output, ['"10\\.1\\.0\\.0/24"', '"10\\.0\\.12\\.0/30"', '"10\\.2\\.0\\.0/24"', '"0\\.0\\.0\\.0/0"']);
    assert.deepEqual(ospf('r2').expect.output, ['"10\\.1\\.0\\.0/24"', '"10\\.0\\.12\\.0/30"', '"10\\.2\\.0\\.0/24"'], 'r2 originates the default route itself');
  });

  it('a DHCP client holds its lease, the default route and the DNS server its range hands out', () => {
    assert.deepEqual(
      probesOf('client1').map((p) => [p.source, p.run.join(' '), p.expect.output]),
      [
        ['dhcp eth0', 'ip -4 -o addr show dev eth0 dynamic', [' inet ']],
        ['dhcp eth0', 'ip -4 route show default dev eth0', ['^default via 10\\.1\\.0\\.1 ']],
        ['dhcp eth0', 'resolvectl dns eth0', ['\\b10\\.2\\.0\\.10\\b']],
      ],
    );
  });

  it('DNS answers for its records, web answers 200, the firewall and NAT rules are loaded', () => {
    const names = (vm: string) => probesOf(vm).map((p) => `${p.source}: ${p.name}`);
    assert.deepEqual(names('srv'), [
      'service dhcp: dnsmasq serves DHCP (UDP 67)',
      'service dns: dnsmasq listens on UDP 53',
      'service dns: DNS answers for web.netlab.test',
      'service dns: DNS answers for r1.netlab.test',
      'service web: nginx answers HTTP 200 on port 80',
    ]);
    assert.deepEqual(names('r2'), [
      'service router: the kernel forwards IPv4',
      "service ospf: OSPF has learned every prefix the lab's routers announce",
      'service nat: the masquerade rule is loaded',
      'service firewall: the filter rules are loaded',
    ]);
    assert.match('    oifname "eth2" counter packets 12 bytes 720 masquerade', new RegExp(probesOf('r2').find((p) => p.source === 'service nat')!.expect.output![0]!));
  });

  it('a lab adds its own probes per VM; a bad one is reported with line:column and path', () => {
    const lab = MINIMAL + '    ready:\n      - name: marker\n        run: [test, -e, /run/marker]\n      - run: [cat, /etc/hostname]\n        expect: { output: ["^a$", "a"] }\n';
    const plan = planFromText(lab);
    assert.deepEqual(
      renderProbes(plan, plan.vms[0]!).map((p) => [p.source, p.name, p.expect]),
      [
        ['lab', 'marker', { exit: 0 }],
        ['lab', 'cat /etc/hostname', { output: ['^a$', 'a'] }],
      ],
    );
    const bad = labErrorOf(MINIMAL + '    ready:\n      - run: "test -e /x"\n        expect: { output: "(" }\n');
    assert.deepEqual(
      bad.issues.map((i) => `${i.line}:${i.column} ${i.path}`),
      ['11:14 vms.a.ready[0].run', '12:27 vms.a.ready[0].expect.output'],
    );
  });
});

describe('readiness probes: waiting for them', () => {
  const guests = new FakeGuests();
  const agent = new GuestAgent(new FakeGuestTransport('r1', guests), 'r1');
  const [ospf] = probesOf('r1').filter((p) => p.source === 'service ospf');

  it('runs a probe again until it passes, and not once more after', async () => {
    let calls = 0;
    guests.respond = () => ({ exitCode: 0, stdout: ++calls < 3 ? '{}' : '{"10.1.0.0/24":[],"10.0.12.0/30":[],"10.2.0.0/24":[],"0.0.0.0/0":[]}' });
    await waitProbes(agent, 'r1', [ospf!], Date.now() + 10_000, 10_000);
    assert.equal(calls, 3);
  });

  it('past the deadline the error names the VM, the service, the probe and what it last saw', async () => {
    guests.respond = () => ({ exitCode: 0, stdout: '{"10.1.0.0/24":[]}' });
    const err = (await waitProbes(agent, 'r1', [ospf!], Date.now() + 1500, 1500).then(
      () => assert.fail('passed'),
      (e: VmlabError) => e,
    )) as VmlabError;
    assert.equal(err.code, 'ERR_VMLAB_SERVICE_NOT_READY');
    assert.match(
      err.message,
      /^r1: service ospf is not working after 2 s: "OSPF has learned every prefix the lab's routers announce" still fails \(output does not match \/"10\\\.0\\\.12\\\.0\/30"\//,
    );
    assert.match(err.hint!, /last output of vtysh -c show ip route ospf json:\n\s+\{"10\.1\.0\.0\/24":\[\]\}/);
  });

  it("up reports a VM whose service never works as not ready, with the probe's error", async () => {
    const { rt, disks, guests: g } = fakeRuntime();
    const web = planFromText(readLab('labs/webserver.yaml'), 'labs/webserver.yaml');
    g.respond = (_vm, path) => (path === 'curl' ? { exitCode: 0, stdout: '502' } : { exitCode: 0, stdout: '' });
    const r = await upLab(rt, web, { disks, bridgeExists: async () => true, timeoutMs: 2500 });
    assert.equal(r.vms[0]!.ready, false);
    assert.equal(r.vms[0]!.error!.code, 'ERR_VMLAB_SERVICE_NOT_READY');
    assert.match(r.vms[0]!.error!.message, /service web is not working/);
    g.respond = (_vm, path) => (path === 'curl' ? { exitCode: 0, stdout: '200' } : { exitCode: 0, stdout: '' });
    const again = await upLab(rt, web, { disks, bridgeExists: async () => true, timeoutMs: 2500 });
    assert.equal(again.vms[0]!.ready, true);
    assert.ok(
      g.execs.some((e) => e.startsWith('web: curl -s -o /dev/null -w %{http_code}')),
      g.execs.join('\n'),
    );
  });

  it('a DHCP client still without a lease is nudged to try again (networkctl reconfigure), not left to its back-off', async () => {
    const g = new FakeGuests();
    const a = new GuestAgent(new FakeGuestTransport('client1', g), 'client1');
    let nudged = false;
    g.respond = (_vm, path) => {
      if (path === 'networkctl') nudged = true;
      return { exitCode: 0, stdout: path === 'ip' && nudged ? '2: eth0    inet 10.1.0.150/24 brd 10.1.0.255 scope global dynamic eth0' : '' };
    };
    const [lease] = probesOf('client1');
    await waitProbes(a, 'client1', [lease!], Date.now() + 10_000, 10_000, { afterMs: 1500, everyMs: 3000 });
    assert.deepEqual(
      g.execs.filter((e) => e.includes('networkctl')),
      ['client1: networkctl reconfigure eth0'],
    );
  });

  it('status runs the probes once: a service that stopped working makes the VM "not ready" and names the probe', async () => {
    const { rt, disks, guests: g } = fakeRuntime();
    const web = planFromText(readLab('labs/webserver.yaml'), 'labs/webserver.yaml');
    g.respond = (_vm, path) => ({ exitCode: 0, stdout: path === 'curl' ? '200' : '' });
    await upLab(rt, web, { disks, bridgeExists: async () => true, timeoutMs: 2500 });
    assert.deepEqual(
      (await labStatus(rt, 'webserver', web)).vms.map((v) => [v.name, v.ready, v.failing]),
      [['web', true, []]],
    );
    g.respond = (_vm, path) => ({ exitCode: 0, stdout: path === 'curl' ? '000' : '' });
    assert.deepEqual(
      (await labStatus(rt, 'webserver', web)).vms.map((v) => [v.name, v.ready, v.failing]),
      [['web', false, ['service web: nginx answers HTTP 200 on port 80']]],
    );
    assert.deepEqual(
      (await labStatus(rt, 'webserver')).vms.map((v) => v.failing),
      [[]],
      'without the lab file there are no probes to run',
    );
  });
});
