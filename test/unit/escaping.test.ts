import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseStringPromise } from 'xml2js';
import YAML from 'yaml';
import { templatesDir } from '../../src/paths.js';
import { renderLab } from '../../src/render/index.js';
import { userDataObject } from '../../src/render/cloud-init.js';
import { planFromText, MINIMAL } from '../helpers/lab.js';

const HOSTILE = `a & b < c > d " e ' f == g {{x}} -- h`;

describe('escaping: hostile strings come out intact', () => {
  it('XML: a description with &<>"\' round-trips through the domain XML', async () => {
    const text = MINIMAL.replace('  a:\n', `  a:\n    description: ${JSON.stringify(HOSTILE)}\n`);
    const r = renderLab(planFromText(text));
    const xml = r.vms[0]!.files['domain.xml'];
    const doc = await parseStringPromise(xml);
    assert.equal(doc.domain.description[0], HOSTILE);
  });

  it('YAML: write_files content, runcmd and ssh keys ending in "==" survive exactly', () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample+Key/Value== student@lab';
    const text =
      MINIMAL +
      `    cloud-init:\n      users:\n        - name: student\n          ssh_authorized_keys: [${JSON.stringify(key)}]\n` +
      `      write_files:\n        - path: /etc/motd\n          content: ${JSON.stringify(HOSTILE + '\n: not a key\n- not a list')}\n` +
      `      runcmd:\n        - ${JSON.stringify(HOSTILE)}\n        - [echo, "#not a comment", "&anchor", "*alias"]\n`;
    const plan = planFromText(text);
    const ud = renderLab(plan).vms[0]!.files['user-data']!;
    assert.ok(ud.startsWith('#cloud-config\n'));
    const parsed = YAML.parse(ud);
    assert.equal(parsed.users[0].ssh_authorized_keys[0], key);
    assert.equal(parsed.write_files.find((f: { path: string }) => f.path === '/etc/motd').content, HOSTILE + '\n: not a key\n- not a list');
    assert.equal(parsed.runcmd[0], 'set -e', 'runcmd stops at the first failing command');
    // vmlab's own (the wall clock's follower, render/wall-clock.ts) before the lab's, which run as written.
    assert.deepEqual(parsed.runcmd[1], ['systemctl', 'enable', '--now', 'vmlab-wallclock.service']);
    assert.equal(parsed.runcmd[2], HOSTILE);
    assert.deepEqual(parsed.runcmd[3], ['echo', '#not a comment', '&anchor', '*alias']);
    assert.deepEqual(parsed, userDataObject(plan, plan.vms[0]!));
  });

  it('YAML: service parameters survive the service templates exactly', () => {
    const title = `Tom's "best" <page> & co ==`;
    const plan = planFromText(MINIMAL.replace('  a:\n', `  a:\n    services:\n      - web: { title: ${JSON.stringify(title)}, port: 8080 }\n`));
    const ud = YAML.parse(renderLab(plan).vms[0]!.files['user-data']!);
    const page = ud.write_files.find((f: { path: string }) => f.path === '/var/www/html/index.html');
    assert.ok(page.content.includes('Tom&#x27;s &quot;best&quot; &lt;page&gt; &amp; co &#x3D;&#x3D;'), page.content);
    const site = ud.write_files.find((f: { path: string }) => f.path === '/etc/nginx/sites-enabled/default');
    assert.match(site.content, /listen 8080 default_server;/);
  });

  /** Bare expressions outside {{#text}} blocks (and inline partials used inside them). */
  function bareValues(template: string): string[] {
    const text = template
      .replace(/\{\{!--[\s\S]*?--\}\}/g, '')
      .replace(/\{\{#text\}\}[\s\S]*?\{\{\/text\}\}/g, '"text"')
      .replace(/\{\{#\*inline [^}]*\}\}[\s\S]*?\{\{\/inline\}\}/g, '');
    return [...text.matchAll(/\{\{~?\s*([^}]*)\}\}/g)].map((m) => m[1]!.trim()).filter((e) => !/^(yaml\s|[#/!>]|else\b)/.test(e));
  }

  it('YAML templates never use a bare {{value}} (only {{yaml …}}, {{#text}} blocks and comments)', () => {
    const dir = join(templatesDir, 'services');
    const offenders: string[] = [];
    for (const svc of readdirSync(dir)) {
      const path = join(dir, svc, 'cloud-config.yaml.hbs');
      offenders.push(...bareValues(readFileSync(path, 'utf8')).map((e) => `${path}: {{${e}}}`));
    }
    assert.deepEqual(offenders, []);
  });

  it('the lint above catches a bare value (it can fail)', () => {
    assert.deepEqual(bareValues('content: {{params.title}}\nx: {{#text}}{{ok}}{{/text}}'), ['params.title']);
  });

  it('a service parameter cannot inject a line into a configuration file', () => {
    const bad = MINIMAL.replace('  a:\n', `  a:\n    services:\n      - web: { title: "x\\nlisten 9999;" }\n`);
    assert.throws(
      () => planFromText(bad),
      (e: Error & { issues?: Array<{ message: string; path: string }> }) => !!e.issues?.some((i) => i.path.endsWith('web.title') && /one line/.test(i.message)),
    );
  });
});

describe('guest plumbing in user-data', () => {
  it('static dns: becomes /etc/resolv.conf with the lab domain as search', () => {
    const plan = planFromText(MINIMAL.replace('ip: 10.0.0.10/24', 'ip: 10.0.0.10/24\n        dns: [10.0.0.2]'));
    const ud = YAML.parse(renderLab(plan).vms[0]!.files['user-data']!);
    const resolv = ud.write_files.find((f: { path: string }) => f.path === '/etc/resolv.conf');
    assert.equal(resolv.content, '# written by vmlab from the lab file (nics[].dns)\nnameserver 10.0.0.2\nsearch t.lab\n');
  });

  it('no dns: leaves resolv.conf alone', () => {
    const ud = YAML.parse(renderLab(planFromText(MINIMAL)).vms[0]!.files['user-data']!);
    assert.deepEqual(
      ud.write_files.map((f: { path: string }) => f.path),
      ['/usr/local/sbin/vmlab-wallclock', '/etc/systemd/system/vmlab-wallclock.service'],
    );
  });
});

describe('snapshot XML is serialised, not built from strings', () => {
  it('a description with markup parses back to itself', async () => {
    const { snapshotXml, readSnapshotXml: parseSnapshotXml } = await import('../../src/libvirt/xml-read.js');
    const text = `student's <work> & "notes" ]]> --`;
    const xml = snapshotXml('autosave-1', text);
    assert.equal(xml, '<domainsnapshot><name>autosave-1</name><description>student\'s &lt;work&gt; &amp; "notes" ]]&gt; --</description></domainsnapshot>');
    const back = await parseSnapshotXml(xml);
    assert.equal(back.name, 'autosave-1');
    assert.equal(back.description, text);
  });
});
