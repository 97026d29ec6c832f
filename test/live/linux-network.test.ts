import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { probeAutoAccel } from '../../src/host/accel-probe.js';
import { libvirtdPid } from '../../src/host/host-net.js';
import { planFromText, root } from '../helpers/lab.js';
import { libvirtObjects, requireLiveHost, vmlab, vmlabJson } from '../helpers/live.js';

const LAB = 'labs/linux-network.yaml';
const ASSIGNMENT = 'labs/assignments/lan-firewall.yaml';
const STAGED = 'labs/assignments/network-stages.yaml';
const BROKEN_LINK = 'labs/assignments/broken-link.yaml';
const checkDir = mkdtempSync(join(tmpdir(), 'vmlab-lan-firewall-'));
const plan = planFromText(readFileSync(join(root, LAB), 'utf8'), LAB);
const vmPlan = (name: string) => plan.vms.find((v) => v.name === name)!;
const TASK = 'client1 reaches iperf3 on the outside';
const failedChecks = (run: { checks: Array<{ name: string; passed: boolean }> }) => run.checks.filter((c) => !c.passed).map((c) => c.name);

/** Runs a command in a guest through the guest agent (vmlab exec). */
async function guest(vm: string, args: string[], timeoutS = 60) {
  const r = await vmlab(['exec', '--timeout', String(timeoutS), LAB, vm, '--', ...args]);
  return { code: r.exitCode ?? -1, out: String(r.stdout), err: String(r.stderr) };
}

/** `bridge -j link` and `ip -j link` where libvirtd (and so every tap) lives. */
async function hostNet(cmd: 'bridge' | 'ip', args: string[]): Promise<Array<Record<string, string>>> {
  const pid = libvirtdPid();
  assert.ok(pid, 'libvirtd runs');
  const r = await execa('nsenter', [`--net=/proc/${pid}/ns/net`, cmd, '-j', ...args]);
  return JSON.parse(String(r.stdout) || '[]') as Array<Record<string, string>>;
}

/**
 * The course's network lab, end to end: Linux as switch (bridges), router
 * (OSPF), NAT, firewall, DHCP (with a relay), DNS and web server.
 */
describe('live: linux-network lab (switch, OSPF routers, NAT, firewall, DHCP, DNS, web)', function () {
  this.timeout(40 * 60_000);
  let t0 = 0;

  before(async () => {
    await requireLiveHost();
    await vmlab(['down', 'linux-network']);
  });

  after(async () => {
    await vmlab(['down', 'linux-network']);
  });

  it('assignment start on a fresh lab: all six guests are up and working; the first check fails exactly the task', async () => {
    // `start` brings the lab up and checkpoints it only once every service works (readiness
    // probes). The check runs right after, with no waiting of the test's own: a lab that
    // has not converged (DHCP through the relay, OSPF, DNS) would fail more than the task.
    t0 = Date.now();
    const start = await vmlabJson(['assignment', 'start', ASSIGNMENT]);
    assert.equal(start.exitCode, 0, start.stderr);
    assert.equal(start.json.created, true);
    process.stdout.write(`      [live] linux-network up and working in ${start.json.upSeconds.toFixed(0)} s (6 guests), checkpoint taken\n`);
    const first = await vmlabJson(['assignment', 'check', ASSIGNMENT, '--out', checkDir]);
    assert.equal(first.exitCode, 3, first.stderr);
    assert.deepEqual(failedChecks(first.json), [TASK], 'only the task fails at the start; routing, web and the firewall work');
    const st = await vmlabJson(['status', LAB]);
    assert.deepEqual(st.json.vms.map((v: { name: string; ready: boolean }) => [v.name, v.ready]).sort(), plan.vms.map((v) => [v.name, true]).sort());
  });

  it('OSPF converged (no waiting: ready means working): r1 learned LAN2 and the default route, r2 learned LAN1', async () => {
    const r = await guest('r1', ['vtysh', '-c', 'show ip route ospf json']);
    const routes = JSON.parse(r.out) as Record<string, Array<{ selected?: boolean; nexthops: Array<{ ip?: string }> }>>;
    assert.equal(routes['10.2.0.0/24']?.[0]?.selected, true, r.out);
    assert.equal(routes['0.0.0.0/0']?.[0]?.selected, true, r.out);
    assert.equal(routes['10.2.0.0/24']![0]!.nexthops[0]!.ip, '10.0.12.2');
    const r2 = await guest('r2', ['vtysh', '-c', 'show ip route ospf']);
    assert.match(r2.out, /O>\* 10\.1\.0\.0\/24 \[110\/\d+\] via 10\.0\.12\.1, eth1/);
  });

  it("DHCP: client1 (LAN1, through r1's relay) and client2 (LAN2) got leases from srv; the leases are on srv", async () => {
    const addressOf = async (vm: string) => {
      const r = await guest(vm, ['ip', '-j', '-4', 'addr', 'show', 'dev', 'eth0']);
      const a = (JSON.parse(r.out) as Array<{ addr_info: Array<{ local: string; dynamic?: boolean }> }>)[0]?.addr_info.find((x) => x.dynamic);
      assert.ok(a, `${vm} holds no DHCP address: ${r.out}`);
      return a.local;
    };
    const ip1 = await addressOf('client1');
    const ip2 = await addressOf('client2');
    assert.match(ip1, /^10\.1\.0\.1\d\d$/);
    assert.match(ip2, /^10\.2\.0\.1\d\d$/);
    const leases = await guest('srv', ['cat', '/var/lib/misc/dnsmasq.leases']);
    assert.match(leases.out, new RegExp(`^\\d+ ${vmPlan('client1').nics[0]!.mac} ${ip1.replace(/\./g, '\\.')} `, 'm'), leases.out);
    assert.match(leases.out, new RegExp(`^\\d+ ${vmPlan('client2').nics[0]!.mac} ${ip2.replace(/\./g, '\\.')} `, 'm'), leases.out);
    const route = await guest('client1', ['ip', 'route', 'show', 'default']);
    assert.match(route.out, /default via 10\.1\.0\.1 dev eth0/, 'the gateway came with the lease');
  });

  it("DNS: client1 resolves web.netlab.test through the lab's DNS server", async () => {
    const r = await guest('client1', ['getent', 'hosts', 'web.netlab.test']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^10\.2\.0\.10\s+web\.netlab\.test/);
  });

  it('client1 on LAN1 reaches the web server on LAN2 across both routers', async () => {
    const r = await guest('client1', ['curl', '-sS', '--max-time', '10', 'http://web.netlab.test/']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Hello from LAN2: srv\.netlab\.test/);
    const path = await guest('client1', ['ip', 'route', 'get', '10.2.0.10']);
    assert.match(path.out, /via 10\.1\.0\.1/);
  });

  it("NAT: the outside VM sees r2's outside address as the source, never a LAN address", async () => {
    const r = await guest('client1', ['curl', '-sS', '--max-time', '10', 'http://203.0.113.10/']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /The outside world: inet\.netlab\.test/);
    const log = await guest('inet', ['tail', '-n', '1', '/var/log/nginx/access.log']);
    assert.match(log.out, /^203\.0\.113\.1 /, log.out);
    const ct = await guest('r2', ['nft', 'list', 'table', 'ip', 'vmlab_nat']);
    assert.match(ct.out, /counter packets [1-9]\d* bytes \d+ masquerade/);
  });

  it('firewall: web to the outside passes, iperf3 (5201) is dropped; the port itself is open', async () => {
    const web = await guest('client1', ['timeout', '5', 'bash', '-c', 'exec 3<>/dev/tcp/203.0.113.10/80']);
    assert.equal(web.code, 0, `port 80 should pass: ${web.err}`);
    const blocked = await guest('client1', ['timeout', '5', 'bash', '-c', 'exec 3<>/dev/tcp/203.0.113.10/5201']);
    assert.equal(blocked.code, 124, `port 5201 should be silently dropped (timeout 124), got ${blocked.code} ${blocked.err}`);
    const direct = await guest('r2', ['timeout', '5', 'bash', '-c', 'exec 3<>/dev/tcp/203.0.113.10/5201']);
    assert.equal(direct.code, 0, 'r2 itself (not forwarded) reaches 5201: the forward rule is what drops it');
    const fw = await guest('r2', ['nft', 'list', 'chain', 'inet', 'vmlab_filter', 'forward']);
    assert.match(fw.out, /counter packets [1-9]\d* bytes \d+ comment "left to the policy"/);
  });

  it("bridges are switches: `bridge link` shows every guest's tap on its lab bridge", async () => {
    const links = await hostNet('bridge', ['link', 'show']);
    const macs = await hostNet('ip', ['link', 'show']);
    for (const vm of plan.vms) {
      for (const nic of vm.nics) {
        const tapMac = 'fe' + nic.mac.slice(2); // libvirt gives the host end of a tap fe:… plus the guest MAC
        const tap = macs.find((l) => l.address === tapMac)?.ifname;
        assert.ok(tap, `${vm.name} ${nic.ifname}: no tap with MAC ${tapMac}`);
        const port = links.find((l) => l.ifname === tap);
        assert.equal(port?.master, nic.bridge, `${vm.name} ${nic.ifname}: tap ${tap} on ${port?.master}, expected ${nic.bridge}`);
      }
    }
    process.stdout.write(`      [live] linux-network: up to all checks passed in ${((Date.now() - t0) / 1000).toFixed(0)} s (target 480 s)\n`);
  });

  it('link failure: r1:eth1 down → LAN1 loses LAN2; up → OSPF re-converges and LAN1 reaches LAN2 within the dead interval plus a margin', async () => {
    const reach = async () => (await guest('client1', ['ping', '-c', '1', '-W', '2', '10.2.0.10'])).code === 0;
    assert.ok(await reach(), 'LAN1 reaches LAN2 before the fault');
    const down = await vmlabJson(['link', 'set', '--json', LAB, 'r1:eth1', '--down']);
    assert.equal(down.exitCode, 0, down.stderr);
    assert.deepEqual(down.json.changes, ['link up → down']);
    assert.equal((await guest('r1', ['cat', '/sys/class/net/eth1/carrier'])).out.trim(), '0', 'r1 sees no carrier on eth1: the cable is pulled');
    assert.equal(await reach(), false, 'LAN1 lost LAN2 with the transit link down');
    const t0 = Date.now();
    assert.equal((await vmlab(['link', 'set', LAB, 'r1:eth1', '--up'])).exitCode, 0);
    const DEAD_S = 8; // the ospf service's default dead interval
    const limit = (DEAD_S + 30) * 1000;
    let back = false;
    while (!back && Date.now() - t0 < limit) back = await reach();
    assert.ok(back, `LAN1 did not reach LAN2 within ${limit / 1000} s of the link coming back`);
    process.stdout.write(`      [live] linux-network: r1:eth1 up again → LAN1 reaches LAN2 after ${((Date.now() - t0) / 1000).toFixed(1)} s (dead interval ${DEAD_S} s)\n`);
    const show = await vmlabJson(['link', 'show', '--json', LAB]);
    assert.deepEqual(show.json.links.find((l: { vm: string; nic: string }) => l.vm === 'r1' && l.nic === 'eth1').now, { state: 'up' });
  });

  it("assignment lan-firewall: the student's nft rule passes the task; reset lands in a working lab where only the task fails again", async () => {
    // The student's answer: allow exactly this traffic, forwarded from the transit link (r1) to the outside.
    const fix = await guest('r2', ['nft', 'insert', 'rule', 'inet', 'vmlab_filter', 'forward', 'iifname', 'eth1', 'oifname', 'eth2', 'tcp', 'dport', '5201', 'accept']);
    assert.equal(fix.code, 0, fix.err);
    const solved = await vmlabJson(['assignment', 'check', ASSIGNMENT, '--out', checkDir]);
    assert.equal(solved.exitCode, 0, JSON.stringify(failedChecks(solved.json)));
    assert.equal(solved.json.score, solved.json.maxScore);

    const uptime = async () => Number((await guest('r1', ['cat', '/proc/uptime'])).out.split(' ')[0]);
    const uptimeBefore = await uptime();
    const t = Date.now();
    const reset = await vmlabJson(['assignment', 'reset', ASSIGNMENT, '--discard']);
    assert.equal(reset.exitCode, 0, reset.stderr);
    process.stdout.write(
      `      [live] lan-firewall reset of 6 guests: ${((Date.now() - t) / 1000).toFixed(1)} s (revert ${(reset.json.revert.ms / 1000).toFixed(1)} s, services working ${(reset.json.workingMs / 1000).toFixed(1)} s later; probed: ${reset.json.probed})\n`,
    );
    assert.ok(
      reset.json.revert.vms.every((v: { resumed: string }) => v.resumed === 'in place'),
      JSON.stringify(reset.json.revert.vms),
    );
    // Under TCG guests keep time by the ACPI PM timer, which goes back with the snapshot: the
    // checkpoint's lab is the working one, no probe needed. Elsewhere (kvm-clock) the probes decide.
    if (probeAutoAccel().accel === 'tcg') assert.match(reset.json.probed, /^no: "[^"]+" is a working checkpoint/);
    else assert.match(reset.json.probed, /^yes: /);
    // The first check, straight after: the lab works.
    const again = await vmlabJson(['assignment', 'check', ASSIGNMENT, '--out', checkDir]);
    assert.equal(again.exitCode, 3);
    assert.deepEqual(failedChecks(again.json), [TASK], 'after reset only the task fails: the rule is gone, everything else works');
    assert.equal(again.json.checks.find((c: { name: string }) => c.name === TASK).message, 'TCP 5201 from LAN1 to 203.0.113.10 is still dropped on r2');
    // The guest is back at the checkpoint's time (its uptime went back), its wall clock on the host's again.
    assert.ok((await uptime()) < uptimeBefore, 'r1 resumed at the checkpoint: its uptime went back');
    // The follower steps the clock to the RTC (whole seconds) once it is more than 2 s behind:
    // the guest's time lies between 3 s before the host's when asked and the host's when answered.
    const asked = Date.now() / 1000;
    const guestNow = Number((await guest('r1', ['date', '+%s.%N'])).out.trim());
    const answered = Date.now() / 1000;
    assert.ok(guestNow >= asked - 3 && guestNow <= answered + 1, `r1's wall clock after the reset: ${guestNow.toFixed(1)}, the host's ${asked.toFixed(1)}–${answered.toFixed(1)}`);
    if (probeAutoAccel().accel === 'tcg') {
      const log = await guest('r1', ['journalctl', '-b', '-u', 'vmlab-wallclock.service', '-o', 'cat', '--no-pager']);
      assert.match(log.out, /the wall clock was \d+ s behind the RTC \(a snapshot revert\?\): set from the RTC/);
    }
  });

  it('assignment verify: lan-firewall, broken-link (a link fault, checks graded on recovery) and the three-stage network assignment prove themselves (each stage fails before its solution, passes after it)', async () => {
    for (const file of [ASSIGNMENT, BROKEN_LINK, STAGED]) {
      const t = Date.now();
      const v = await vmlabJson(['assignment', 'verify', file]);
      assert.equal(v.exitCode, 0, JSON.stringify(v.json.stages?.map((s: { stage: number; problems: string[] }) => [s.stage, s.problems]) ?? v.json));
      process.stdout.write(`      [live] verify ${file}: ${v.json.stages.length} stage(s) in ${((Date.now() - t) / 1000).toFixed(0)} s\n`);
    }
    // The staged one leaves the lab at stage 1: OSPF stopped on r1, so LAN2 is out of r1's reach.
    const check = await vmlabJson(['assignment', 'check', STAGED, '--out', checkDir]);
    assert.equal(check.exitCode, 3);
    assert.equal(check.json.stage, 1);
    assert.deepEqual(failedChecks(check.json).slice(0, 2), ['r1 has learned LAN2 by OSPF', "LAN1's router reaches srv on LAN2"]);
  });

  it('rescue to stage 3: routing and DHCP solved, the firewall task open', async () => {
    const t = Date.now();
    const r = await vmlabJson(['assignment', 'rescue', STAGED, '--stage', '3']);
    assert.equal(r.exitCode, 0, r.stderr);
    process.stdout.write(
      `      [live] rescue to stage 3 of 6 guests: ${((Date.now() - t) / 1000).toFixed(1)} s (autosave ${(r.json.autosave.ms / 1000).toFixed(1)} s, revert ${(r.json.revert.ms / 1000).toFixed(1)} s)\n`,
    );
    const check = await vmlabJson(['assignment', 'check', STAGED, '--out', checkDir]);
    assert.equal(check.json.stage, 3);
    assert.deepEqual(failedChecks(check.json), [TASK]);
  });

  it('down leaves nothing of the lab', async () => {
    const r = await vmlabJson(['down', 'linux-network']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.json.domains.length, 6);
    assert.equal(r.json.networks.length, 4);
    assert.deepEqual(await libvirtObjects('vmlab-linux-network-'), []);
    assert.equal(existsSync('/var/lib/vmlab/labs/linux-network'), false);
    const bridges = await hostNet('ip', ['link', 'show', 'type', 'bridge']);
    for (const n of plan.networks) assert.ok(!bridges.some((b) => b.ifname === n.bridge), `bridge ${n.bridge} is gone`);
  });
});
