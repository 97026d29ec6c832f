import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { parseStringPromise } from 'xml2js';
import { parseLab } from '../../src/lab/load.js';
import { planLab } from '../../src/plan/plan.js';
import { renderLab } from '../../src/render/index.js';
import { exampleLabs, GOLDEN_PLAN_OPTS, readLab, root } from '../helpers/lab.js';
import { renderExample, renderedFiles } from '../helpers/render.js';

const UPDATE = process.env.UPDATE_GOLDEN === '1';

describe('golden files (set UPDATE_GOLDEN=1 to regenerate)', () => {
  const labs = exampleLabs();
  it('has example labs to check', () => {
    assert.ok(labs.includes('labs/quickstart.yaml'));
    assert.ok(labs.includes('labs/emulated-vs-virtio.yaml'));
  });
  for (const rel of labs) {
    it(`${rel} renders byte-identical to test/golden/${basename(rel, '.yaml')}/`, () => {
      const files = renderedFiles(renderExample(rel));
      const dir = join(root, 'test', 'golden', basename(rel, '.yaml'));
      for (const [name, text] of files) {
        const path = join(dir, name);
        if (UPDATE) {
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, text);
          continue;
        }
        assert.ok(existsSync(path), `missing golden ${path} (run with UPDATE_GOLDEN=1 once and review the diff)`);
        assert.equal(text, readFileSync(path, 'utf8'), `${path} differs from the rendering`);
      }
    });

    it(`${rel} renders deterministically and its XML parses back to the plan`, async () => {
      const plan = planLab(parseLab(rel, readLab(rel)), GOLDEN_PLAN_OPTS);
      const a = renderLab(plan);
      const b = renderLab(planLab(parseLab(rel, readLab(rel)), GOLDEN_PLAN_OPTS));
      assert.deepEqual(a, b);
      for (const vm of plan.vms) {
        const xml = a.vms.find((v) => v.name === vm.name)!.files['domain.xml'];
        const doc = await parseStringPromise(xml);
        const d = doc.domain;
        assert.equal(d.name[0], vm.domainName);
        assert.equal(d.$.type, vm.accel.domainType);
        const meta = d.metadata[0]['vmlab:vm'][0].$;
        assert.equal(meta.lab, plan.lab.name);
        assert.equal(meta.vm, vm.name);
        assert.equal(meta['lab-hash'], plan.lab.fileHash);
        assert.equal(meta['vm-hash'], vm.hash);
        if (vm.profile.family === 'container') {
          assert.equal(d.os[0].type[0]._, 'exe');
          assert.equal(d.os[0].init[0], vm.profile.init.value);
          assert.equal(d.devices[0].filesystem[0].source[0].$.dir, vm.container!.root);
          assert.equal(d.devices[0].disk, undefined);
        } else {
          assert.equal(d.os[0].type[0].$.machine, vm.profile.machine.value);
          assert.deepEqual(
            d.devices[0].disk.map((x: { source: Array<{ $: { file: string } }> }) => x.source[0]!.$.file),
            vm.disks.map((x) => x.path),
          );
        }
        assert.deepEqual(
          d.devices[0].interface.map((x: { mac: Array<{ $: { address: string } }> }) => x.mac[0]!.$.address),
          vm.nics.map((n) => n.mac),
        );
        assert.equal(Number(d.memory[0]._), vm.profile.family === 'container' ? vm.profile.memoryLimit.value : vm.memoryMiB);
      }
    });
  }
});
