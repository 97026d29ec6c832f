import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseStringPromise } from 'xml2js';
import { layoutDot } from '../../src/host/graphviz.js';
import { parseLab } from '../../src/lab/load.js';
import { planLab } from '../../src/plan/plan.js';
import { renderGraphDot } from '../../src/render/graph-dot.js';
import { formatIpv4 } from '../../src/util/ipv4.js';
import { exampleLabs, GOLDEN_PLAN_OPTS, readLab, root } from '../helpers/lab.js';
import { requireTool } from '../helpers/tools.js';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const planOf = (rel: string) => planLab(parseLab(rel, readLab(rel)), GOLDEN_PLAN_OPTS);

/** All text in an SVG, from xml2js's tree. */
function svgText(node: unknown, out: string[] = []): string[] {
  if (typeof node === 'string') out.push(node);
  else if (Array.isArray(node)) node.forEach((n) => svgText(n, out));
  else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) if (k !== '$') svgText(v, out);
  return out;
}

describe('vmlab graph', function () {
  this.timeout(60_000);
  before(() => requireTool('dot', 'graphviz'));

  for (const rel of exampleLabs()) {
    it(`${rel}: DOT matches test/golden/${basename(rel, '.yaml')}/graph.dot and lays out as SVG naming every VM, bridge and address`, async () => {
      const plan = planOf(rel);
      const dot = renderGraphDot(plan);
      const golden = join(root, 'test', 'golden', basename(rel, '.yaml'), 'graph.dot');
      if (UPDATE) {
        mkdirSync(dirname(golden), { recursive: true });
        writeFileSync(golden, dot);
      } else {
        assert.ok(existsSync(golden), `missing ${golden} (UPDATE_GOLDEN=1)`);
        assert.equal(dot, readFileSync(golden, 'utf8'));
      }
      const svg = Buffer.from(await layoutDot(dot, 'svg')).toString('utf8');
      const text = svgText(await parseStringPromise(svg)).join('\n');
      for (const vm of plan.vms) {
        assert.match(text, new RegExp(`^${vm.name}$`, 'm'), vm.name);
        for (const n of vm.nics) {
          const addr = n.address.kind === 'static' ? `${formatIpv4(n.address.cidr.address)}/${n.address.cidr.prefix}` : n.address.kind === 'dhcp' ? 'DHCP' : 'no address';
          assert.ok(text.includes(`${n.ifname} ${addr}`), `${vm.name} ${n.ifname} ${addr}`);
        }
      }
      for (const n of plan.networks) assert.ok(text.includes(n.bridge), n.bridge);
    });
  }

  it('the network lab shows its services and device models; PNG is a PNG', async () => {
    const dot = renderGraphDot(planOf('labs/linux-network.yaml'));
    assert.match(dot, /router, ospf, nat, firewall/);
    assert.match(dot, /emulated \(hardware emulation\)/);
    const png = await layoutDot(dot, 'png');
    assert.deepEqual([...png.slice(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it("the README's picture of the network lab is there and current (names every VM)", () => {
    const svg = readFileSync(join(root, 'docs', 'linux-network.svg'), 'utf8');
    for (const vm of planOf('labs/linux-network.yaml').vms) assert.match(svg, new RegExp(`>${vm.name}<`));
    assert.match(readFileSync(join(root, 'README.md'), 'utf8'), /docs\/linux-network\.svg/);
  });

  it('names with DOT or HTML specials come out escaped (Graphviz accepts them)', async () => {
    const plan = planOf('labs/quickstart.yaml');
    plan.lab.description = 'a "quoted" <b>lab</b> & \\ more';
    const svg = Buffer.from(await layoutDot(renderGraphDot(plan), 'svg')).toString('utf8');
    assert.ok(
      svgText(await parseStringPromise(svg))
        .join('\n')
        .includes('a "quoted" <b>lab</b> & \\ more'),
    );
  });
});
