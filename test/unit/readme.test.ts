import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderLab } from '../../src/render/index.js';
import { deviceProfiles } from '../../src/profiles/index.js';
import { defaultServiceCatalog } from '../../src/services/catalog.js';
import { planFromText, root } from '../helpers/lab.js';

const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('README stays true', () => {
  it('the full lab example validates, plans and renders', () => {
    const m = /## The lab file[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme);
    assert.ok(m, 'README has a yaml example under "## The lab file"');
    const plan = planFromText(m[1]!, 'README.md');
    assert.deepEqual(
      plan.vms.map((v) => v.name),
      ['router', 'student1', 'student2', 'student3'],
    );
    const r = renderLab(plan);
    assert.equal(r.networks.length, 3, 'isolated, isolated, nat (the host bridge needs no libvirt network)');
  });

  it('lists every device profile and every service', () => {
    for (const p of Object.keys(deviceProfiles)) assert.match(readme, new RegExp('`' + p + '`'), p);
    for (const s of defaultServiceCatalog().names()) assert.match(readme, new RegExp('\\| `' + s + '`'), s);
  });
});
