import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exampleLabs } from '../helpers/lab.js';
import { renderedFiles, renderExample } from '../helpers/render.js';
import { requireTool, run } from '../helpers/tools.js';

/** libvirt's and cloud-init's own checkers are the judges of our output. */
describe('rendered output passes libvirt and cloud-init validators', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    requireTool('virt-xml-validate', 'libvirt-clients');
    requireTool('xmllint', 'libxml2-utils');
    requireTool('cloud-init', 'cloud-init');
    requireTool('virsh', 'libvirt-clients');
    dir = mkdtempSync(join(tmpdir(), 'vmlab-validate-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const rel of exampleLabs()) {
    it(`${rel}: every domain and network XML passes virt-xml-validate`, async () => {
      for (const [name, text] of renderedFiles(renderExample(rel))) {
        if (!name.endsWith('.xml')) continue;
        const path = join(dir, name.replace(/\//g, '_'));
        writeFileSync(path, text);
        const r = await run('virt-xml-validate', [path, name.startsWith('networks/') ? 'network' : 'domain']);
        assert.equal(r.exitCode, 0, `${name}: ${r.all}`);
      }
    });

    it(`${rel}: every user-data passes cloud-init schema (under KVM and under TCG, which sets the guest's clock)`, async () => {
      for (const [name, text] of [...renderedFiles(renderExample(rel)), ...[...renderedFiles(renderExample(rel, 'tcg'))].map(([n, t]) => [`tcg-${n}`, t] as const)]) {
        if (!name.endsWith('/user-data')) continue;
        const path = join(dir, name.replace(/\//g, '_'));
        writeFileSync(path, text);
        const r = await run('cloud-init', ['schema', '-c', path]);
        assert.equal(r.exitCode, 0, `${name}: ${r.all}`);
        // cloud-init 22 (Debian 12) says "Valid cloud-config: FILE", 25 (Debian 13) "Valid schema FILE"
        assert.match(r.all ?? '', /Valid (cloud-config|schema)/);
      }
    });

    it(`${rel}: libvirt's test driver defines every network and domain`, async () => {
      const cmds: string[] = [];
      for (const [name, text] of renderedFiles(renderExample(rel))) {
        if (!name.endsWith('.xml')) continue;
        const path = join(dir, 'def-' + name.replace(/\//g, '_'));
        writeFileSync(path, text);
        cmds.push(`${name.startsWith('networks/') ? 'net-define' : 'define'} ${path}`);
      }
      const r = await run('virsh', ['-c', 'test:///default', cmds.join(' ; ')]);
      assert.equal(r.exitCode, 0, r.all);
      assert.doesNotMatch(r.all ?? '', /error/i);
    });
  }

  it('the validators really reject broken output (they can fail)', async () => {
    const bad = join(dir, 'bad.xml');
    writeFileSync(bad, "<domain type='qemu'><name>x</name><memory>zz</memory></domain>");
    assert.notEqual((await run('virt-xml-validate', [bad, 'domain'])).exitCode, 0);
    const ud = join(dir, 'bad-user-data');
    writeFileSync(ud, '#cloud-config\nusers: 5\nruncmd: {a: 1}\n');
    assert.notEqual((await run('cloud-init', ['schema', '-c', ud])).exitCode, 0);
  });
});
