import assert from 'node:assert/strict';
import { labErrorOf, modelFromText, MINIMAL } from '../helpers/lab.js';

function issue(text: string) {
  const e = labErrorOf(text);
  assert.ok(e.issues.length >= 1);
  return e.issues;
}

describe('lab validation', () => {
  it('accepts a minimal lab and applies defaults', () => {
    const m = modelFromText(MINIMAL);
    assert.equal(m.name, 't');
    assert.equal(m.domain, 't.lab');
    const vm = m.vms[0]!;
    assert.equal(vm.image, 'debian-12');
    assert.equal(vm.memoryBytes, 512 * 1024 * 1024);
    assert.equal(vm.vcpus, 1);
    assert.equal(vm.profile, 'virtio');
    assert.equal(vm.accel, 'auto');
  });

  it('suggests the right key for a typo, with line and column', () => {
    const [i] = issue(MINIMAL.replace('  a:\n', '  a:\n    memroy: 1GiB\n'));
    assert.equal(i!.path, 'vms.a.memroy');
    assert.match(i!.hint!, /did you mean "memory"/);
    assert.equal(i!.line, 7);
    assert.equal(i!.column, 5);
    assert.equal(i!.file, 'test.yaml');
  });

  it('reports an address outside the subnet with its path and value', () => {
    const [i] = issue(MINIMAL.replace('10.0.0.10/24', '10.0.1.10/24'));
    assert.equal(i!.path, 'vms.a.nics[0].ip');
    assert.equal(i!.value, '10.0.1.10/24');
    assert.match(i!.message, /not a usable address/);
    assert.equal(i!.line, 9);
  });

  it('rejects network and broadcast addresses and prefix mismatches', () => {
    assert.match(issue(MINIMAL.replace('10.0.0.10/24', '10.0.0.0/24'))[0]!.message, /not a usable/);
    assert.match(issue(MINIMAL.replace('10.0.0.10/24', '10.0.0.255/24'))[0]!.message, /not a usable/);
    assert.match(issue(MINIMAL.replace('10.0.0.10/24', '10.0.0.10/16'))[0]!.message, /prefix \/16 differs/);
  });

  it('rejects duplicate addresses and MACs', () => {
    const dup = MINIMAL + `  b:\n    nics:\n      - network: lan\n        ip: 10.0.0.10/24\n`;
    const [i] = issue(dup);
    assert.equal(i!.path, 'vms.b.nics[0].ip');
    assert.match(i!.message, /already used by a\.nics\[0\]/);
    const macs = MINIMAL.replace('ip: 10.0.0.10/24', 'ip: 10.0.0.10/24\n        mac: 52:54:00:00:00:01') + `  b:\n    nics:\n      - network: lan\n        mac: 52:54:00:00:00:01\n`;
    assert.match(issue(macs)[0]!.message, /MAC 52:54:00:00:00:01 is already used/);
  });

  it('parses units and rejects bare numbers with a hint', () => {
    assert.equal(modelFromText(MINIMAL.replace('  a:\n', '  a:\n    memory: 1GiB\n')).vms[0]!.memoryBytes, 1024 ** 3);
    const [i] = issue(MINIMAL.replace('  a:\n', '  a:\n    memory: 1024\n'));
    assert.match(i!.hint!, /1024MiB/);
    assert.match(issue(MINIMAL.replace('  a:\n', '  a:\n    memory: lots\n'))[0]!.message, /not a size/);
    assert.match(issue(MINIMAL.replace('  a:\n', '  a:\n    memory: 1TiB\n'))[0]!.message, /out of range/);
  });

  it('bounds count and expands copies with consecutive addresses', () => {
    const m = modelFromText(MINIMAL.replace('  a:\n', '  a:\n    count: 3\n'));
    assert.deepEqual(
      m.vms.map((v) => v.name),
      ['a1', 'a2', 'a3'],
    );
    assert.deepEqual(
      m.vms.map((v) => (v.nics[0]!.address.kind === 'static' ? v.nics[0]!.address.cidr.address & 255 : -1)),
      [10, 11, 12],
    );
    assert.match(issue(MINIMAL.replace('  a:\n', '  a:\n    count: 0\n'))[0]!.message, /between 1 and 100/);
    assert.match(issue(MINIMAL.replace('  a:\n', '  a:\n    count: 101\n'))[0]!.message, /between 1 and 100/);
    assert.match(issue(MINIMAL.replace('  a:\n', '  a:\n    count: 250\n').replace('10.0.0.10', '10.0.0.10'))[0]!.message, /between 1 and 100/);
    assert.match(issue(MINIMAL.replace('  a:\n', '  a:\n    count: 99\n').replace('10.0.0.10/24', '10.0.0.200/24'))[0]!.message, /last copy/);
  });

  it('rejects unknown profile, accel and service with suggestions', () => {
    const p = issue(MINIMAL.replace('  a:\n', '  a:\n    profile: virtoi\n'))[0]!;
    assert.equal(p.path, 'vms.a.profile');
    assert.match(p.hint!, /did you mean "virtio"/);
    assert.match(issue(MINIMAL.replace('  a:\n', '  a:\n    accel: xen\n'))[0]!.hint!, /kvm, tcg, auto/);
    const s = issue(MINIMAL.replace('  a:\n', '  a:\n    services: [webb]\n'))[0]!;
    assert.match(s.message, /unknown service "webb"/);
    assert.match(s.hint!, /did you mean "web"/);
  });

  it('validates service parameters with a path', () => {
    const [i] = issue(MINIMAL.replace('  a:\n', '  a:\n    services:\n      - web: { port: 70000 }\n'));
    assert.equal(i!.path, 'vms.a.services[0].web.port');
    assert.match(i!.message, /between 1 and 65535/);
    assert.match(issue(MINIMAL.replace('  a:\n', '  a:\n    services:\n      - web: { prot: 80 }\n'))[0]!.hint!, /did you mean "port"/);
  });

  it('requires DNS-label names', () => {
    const [i] = issue(MINIMAL.replace('  a:\n', '  Bad_Name:\n'));
    assert.equal(i!.path, 'vms.Bad_Name');
    assert.match(i!.message, /DNS label/);
    assert.match(issue(MINIMAL.replace('name: t', 'name: "t&<x>"'))[0]!.path, /^name$/);
  });

  it('points at YAML syntax errors', () => {
    const e = labErrorOf('name: t\nvms:\n  a: {\n');
    assert.match(e.issues[0]!.message, /YAML syntax/);
    assert.ok(e.issues[0]!.line);
    const d = labErrorOf('name: t\nname: u\nvms: {a: {}}\n');
    assert.match(d.issues[0]!.hint!, /once/);
  });

  it('checks NIC networks exist, and dhcp needs a DHCP server on isolated networks', () => {
    const n = issue(MINIMAL.replace('network: lan', 'network: lna'))[0]!;
    assert.match(n.hint!, /did you mean "lan"/);
    assert.match(issue(MINIMAL.replace('ip: 10.0.0.10/24', 'ip: dhcp'))[0]!.message, /no VM there runs the "dhcp" service/);
  });

  it('refuses plain-text passwords and never echoes them', () => {
    const e = labErrorOf(MINIMAL + `    cloud-init:\n      users:\n        - name: s\n          passwd: hunter2\n`);
    assert.match(e.issues[0]!.hint!, /mkpasswd/);
    assert.ok(!JSON.stringify(e.toJSON()).includes('hunter2'));
    assert.ok(!e.message.includes('hunter2'));
    const h = labErrorOf(MINIMAL + `    cloud-init:\n      users:\n        - name: s\n          hashed_passwd: notahash\n`);
    assert.equal(h.issues[0]!.value, '<redacted>');
  });

  it('knows q35 has no IDE bus', () => {
    const [i] = issue(MINIMAL.replace('  a:\n', '  a:\n    profile: emulated\n    disks:\n      - { size: 1GiB, bus: ide }\n'));
    assert.equal(i!.path, 'vms.a.disks[0].bus');
    assert.match(i!.hint!, /emulated-pc/);
  });

  it('checks existing host bridges and nat networks', () => {
    const m = modelFromText(MINIMAL.replace('    subnet: 10.0.0.0/24', '    bridge: br0').replace('        ip: 10.0.0.10/24\n', ''));
    assert.equal(m.networks[0]!.mode, 'bridge');
    assert.match(issue(MINIMAL.replace('    subnet: 10.0.0.0/24', '    mode: nat'))[0]!.message, /needs a subnet/);
    assert.match(issue(MINIMAL.replace('    subnet: 10.0.0.0/24', '    bridge: this-name-is-too-long'))[0]!.message, /not a Linux bridge name/);
    const nat = modelFromText(MINIMAL.replace('    subnet: 10.0.0.0/24', '    mode: nat\n    subnet: 10.0.0.0/24'));
    assert.equal(nat.networks[0]!.hostAddress, (10 << 24) + 1);
  });

  it('collects several problems at once', () => {
    const e = labErrorOf(MINIMAL.replace('  a:\n', '  a:\n    vcpus: 0\n    profile: nope\n'));
    assert.equal(e.issues.length, 2);
  });

  it('rejects images not known to the host when a list is given', async () => {
    const { parseLab } = await import('../../src/lab/load.js');
    assert.throws(
      () => parseLab('x.yaml', MINIMAL, { knownImages: ['debian-12-custom'] }),
      (e: Error & { issues?: Array<{ hint?: string }> }) => /vmlab image (list|build)/.test(e.issues?.[0]?.hint ?? ''),
    );
  });

  describe('structure, from the published schema (ajv)', () => {
    it('names a list where a mapping of names belongs, with a hint', () => {
      const [i] = issue('name: t\nvms:\n  - a\n');
      assert.equal(i!.path, 'vms');
      assert.match(i!.message, /mapping of names to definitions, not a list/);
      assert.match(i!.hint!, /name:/);
    });

    it('reports ranges with both bounds, types with the kind of value meant, and patterns with a hint', () => {
      assert.match(issue(MINIMAL.replace('    subnet: 10.0.0.0/24', '    subnet: 10.0.0.0/24\n    mtu: 10000'))[0]!.message, /between 576 and 9000/);
      const perm = issue(MINIMAL + '    cloud-init:\n      write_files: [{ path: /x, content: y, permissions: 644 }]\n')[0]!;
      assert.equal(perm.path, 'vms.a.cloud-init.write_files[0].permissions');
      assert.match(perm.message, /must be an octal mode, not a number/);
      assert.match(perm.hint!, /quote it/);
      const mac = issue(MINIMAL.replace('ip: 10.0.0.10/24', 'ip: 10.0.0.10/24\n        mac: 52:54:00:zz:00:01'))[0]!;
      assert.match(mac.message, /not a MAC address/);
      assert.equal(mac.line, 10);
    });

    it('lists problems in the order of the file, each once', () => {
      const e = labErrorOf(MINIMAL.replace('    subnet: 10.0.0.0/24', '    subnet: 10.0.0.0/24\n    mdoe: nat').replace('  a:\n', '  a:\n    profile: emulatd\n') + '  ThisIsBad: {}\n');
      assert.deepEqual(
        e.issues.map((i) => i.path),
        ['networks.lan.mdoe', 'vms.a.profile', 'vms.ThisIsBad'],
      );
      assert.deepEqual(
        e.issues.map((i) => i.line),
        [5, 8, 12],
      );
    });

    it('an empty key is an empty list or mapping, as before', () => {
      const m = modelFromText(MINIMAL.replace('  a:\n', '  a:\n    disks:\n    services:\n    cloud-init:\n'));
      assert.deepEqual(m.vms[0]!.disks, []);
      assert.deepEqual(m.vms[0]!.services, []);
    });
  });
});
