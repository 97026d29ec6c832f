import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import YAML from 'yaml';
import type { VmlabError } from '../../src/errors.js';
import { loadClass } from '../../src/lab/class-file.js';
import { loadAssignment } from '../../src/assignment/load.js';
import { classCopies } from '../../src/plan/class-plan.js';
import { planLab, type Plan } from '../../src/plan/plan.js';
import { renderKubevirt, type KubeObject, type RenderedManifests } from '../../src/render/kubevirt/manifests.js';
import { KUBEVIRT_RULES } from '../../src/render/kubevirt/rules.js';
import { kubevirtModels, roundTrip, type KubevirtModels } from '../helpers/kubevirt-api.js';
import { exampleLabs, GOLDEN_PLAN_OPTS, planFromText, readLab, root } from '../helpers/lab.js';

const OPTS = { registry: 'registry.example.invalid/vmlab', imageTags: { 'debian-12': 'v1', 'debian-12-novirtio': 'v1' } };
const GOLDEN = join(root, 'test', 'golden', 'kubevirt');
const update = process.env.UPDATE_GOLDEN === '1';

function golden(rel: string, text: string): void {
  const path = join(GOLDEN, rel);
  if (update) {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    return;
  }
  assert.ok(existsSync(path), `missing ${path} (UPDATE_GOLDEN=1)`);
  assert.equal(text, readFileSync(path, 'utf8'), `${path} differs`);
}

const yamlOf = (o: KubeObject) => YAML.stringify(o, { lineWidth: 0, aliasDuplicateObjects: false });

function classPlans(): Plan[] {
  const cls = loadClass(join(root, 'classes', 'pair.yaml'));
  const loaded = cls.source.kind === 'assignment' ? loadAssignment(cls.source.file).lab : assert.fail('pair is an assignment class');
  // Named as from the checkout's root, so the goldens do not depend on where the checkout is.
  const lab = { ...loaded, file: relative(root, loaded.file) };
  return classCopies(cls, lab).map((c) => planLab(c.lab, GOLDEN_PLAN_OPTS));
}

/** Every rule of KubeVirt's admission vmlab knows, on a set of rendered objects. */
function admissionProblems(r: RenderedManifests): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const bridges = new Map<string, Set<string>>();
  for (const { object: o } of r.files) {
    const key = `${o.metadata.namespace ?? ''}/${o.kind}/${o.metadata.name}`;
    if (seen.has(key)) out.push(`duplicate ${key}`);
    seen.add(key);
    if (!KUBEVIRT_RULES.label.test(o.metadata.name) || o.metadata.name.length > KUBEVIRT_RULES.labelMax) out.push(`${key}: not a DNS-1123 name`);
    if (o.kind === 'NetworkAttachmentDefinition') {
      const c = JSON.parse((o.spec as { config: string }).config) as { type: string; bridge: string; ipam: object };
      if (c.type !== 'bridge' || Object.keys(c.ipam).length) out.push(`${key}: not a bridge without IPAM`);
      if (c.bridge.length > 15) out.push(`${key}: bridge ${c.bridge} is longer than 15 characters`);
      const inNs = bridges.get(o.metadata.namespace!) ?? new Set<string>();
      if (inNs.has(c.bridge)) out.push(`${key}: bridge ${c.bridge} used twice in the namespace`);
      bridges.set(o.metadata.namespace!, inNs.add(c.bridge));
    }
    if (o.kind !== 'VirtualMachine') continue;
    const spec = (o.spec as { template: { spec: VmiSpec } }).template.spec;
    for (const d of spec.domain.devices.disks) if (!(KUBEVIRT_RULES.diskBuses as readonly string[]).includes(d.disk.bus)) out.push(`${key}: disk bus ${d.disk.bus}`);
    for (const i of spec.domain.devices.interfaces) {
      if (!(KUBEVIRT_RULES.interfaceModels as readonly string[]).includes(i.model)) out.push(`${key}: interface model ${i.model}`);
      if (!spec.networks.some((n) => n.name === i.name)) out.push(`${key}: interface ${i.name} has no network`);
    }
    const names = spec.volumes.map((v) => v.name);
    if (new Set(names).size !== names.length) out.push(`${key}: volume names repeat`);
    for (const d of spec.domain.devices.disks) if (!names.includes(d.name)) out.push(`${key}: disk ${d.name} has no volume`);
    for (const v of spec.volumes) {
      const ci = v.cloudInitNoCloud;
      if (ci?.userData && Buffer.byteLength(ci.userData) > KUBEVIRT_RULES.cloudInitInlineMax) out.push(`${key}: inline userData over ${KUBEVIRT_RULES.cloudInitInlineMax} bytes`);
      if (ci?.networkData && Buffer.byteLength(ci.networkData) > KUBEVIRT_RULES.cloudInitInlineMax) out.push(`${key}: inline networkData over ${KUBEVIRT_RULES.cloudInitInlineMax} bytes`);
      if (ci?.secretRef && !seen.has(`${o.metadata.namespace}/Secret/${ci.secretRef.name}`)) out.push(`${key}: secret ${ci.secretRef.name} is not rendered before it`);
    }
    const aff = spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0];
    if (aff?.topologyKey !== 'kubernetes.io/hostname' || aff.labelSelector.matchLabels['vmlab.dev/copy'] !== o.metadata.namespace) out.push(`${key}: not pinned with its copy to one node`);
  }
  return out;
}

interface VmiSpec {
  domain: { devices: { disks: Array<{ name: string; disk: { bus: string } }>; interfaces: Array<{ name: string; model: string }> } };
  networks: Array<{ name: string }>;
  volumes: Array<{ name: string; cloudInitNoCloud?: { userData?: string; networkData?: string; secretRef?: { name: string } } }>;
  affinity?: { podAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: Array<{ topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }> } };
}

describe('KubeVirt target: every example lab and a class as Kubernetes objects', function () {
  this.timeout(120_000);
  let models: KubevirtModels;
  before(async () => {
    models = await kubevirtModels();
  });

  const renderable: Array<{ name: string; plans: () => Plan[] }> = [
    ...exampleLabs().map((f) => ({ name: basename(f, '.yaml'), plans: () => [planFromText(readLab(f), f)] })),
    { name: 'class-pair', plans: classPlans },
  ];

  for (const { name, plans } of renderable) {
    it(`${name}: goldens, KubeVirt's API types, admission rules — or an error that names what cannot map`, () => {
      let r: RenderedManifests;
      try {
        r = renderKubevirt(plans(), OPTS);
      } catch (e) {
        const err = e as VmlabError;
        assert.equal(err.code, 'ERR_VMLAB_KUBEVIRT_UNMAPPABLE', err.message);
        assert.equal(err.exitCode, 2);
        golden(`${name}.error.txt`, `${err.message}\nhint: ${err.hint}\n`);
        return;
      }
      const dir = join(GOLDEN, name);
      if (update) rmSync(dir, { recursive: true, force: true });
      for (const f of r.files) golden(join(name, f.file), yamlOf(f.object));
      if (!update) assert.deepEqual(readdirSync(dir).sort(), r.files.map((f) => f.file).sort(), 'no stale golden files');
      for (const { object: o } of r.files) {
        // The published models keep what KubeVirt's API has: anything else would be dropped in the round trip.
        if (o.kind === 'VirtualMachine') assert.deepEqual(roundTrip(models.V1VirtualMachineFromJSON, models.V1VirtualMachineToJSON, o), o, `${o.metadata.name}: a field KubeVirt's API does not have`);
        assert.deepEqual(roundTrip(models.K8sIoApimachineryPkgApisMetaV1ObjectMetaFromJSON, models.K8sIoApimachineryPkgApisMetaV1ObjectMetaToJSON, o.metadata), o.metadata);
      }
      assert.deepEqual(admissionProblems(r), []);
    });
  }

  it('the checks can fail: an unknown field, a model KubeVirt lacks, inline cloud-init over the limit', () => {
    const r = renderKubevirt([planFromText(readLab('labs/quickstart.yaml'), 'labs/quickstart.yaml')], OPTS);
    const vm = structuredClone(r.files.find((f) => f.object.kind === 'VirtualMachine')!.object);
    (vm.spec as Record<string, unknown>).runningg = true;
    assert.notDeepEqual(roundTrip(models.V1VirtualMachineFromJSON, models.V1VirtualMachineToJSON, vm), vm);
    const bad = structuredClone(r);
    const spec = (bad.files.find((f) => f.object.kind === 'VirtualMachine')!.object.spec as { template: { spec: VmiSpec } }).template.spec;
    spec.domain.devices.interfaces[0]!.model = 'veth';
    spec.volumes.find((v) => v.cloudInitNoCloud)!.cloudInitNoCloud!.userData = 'x'.repeat(3000);
    assert.deepEqual(
      admissionProblems(bad).map((p) => p.replace(/^.*?: /, '')),
      ['interface model veth', 'inline userData over 2048 bytes'],
    );
  });

  it("a class: a namespace per student with the student's labels, bridges of their own, the same lab otherwise", () => {
    const r = renderKubevirt(classPlans(), OPTS);
    const nss = r.files.filter((f) => f.object.kind === 'Namespace').map((f) => f.object.metadata);
    assert.deepEqual(
      nss.map((m) => [m.name, m.labels!['vmlab.dev/class'], m.labels!['vmlab.dev/student'], m.labels!['vmlab.dev/lab']]),
      [
        ['vmlab-quickstart--ana', 'pair', 'ana', 'quickstart'],
        ['vmlab-quickstart--ben', 'pair', 'ben', 'quickstart'],
        ['vmlab-quickstart--cai', 'pair', 'cai', 'quickstart'],
      ],
    );
    const bridges = r.files.filter((f) => f.object.kind === 'NetworkAttachmentDefinition').map((f) => (JSON.parse((f.object.spec as { config: string }).config) as { bridge: string }).bridge);
    assert.equal(new Set(bridges).size, 3);
  });

  it('cloud-init is the same user-data and network-config as on libvirt; too big to be inline, it goes into a Secret', () => {
    const plan = planFromText(readLab('labs/linux-network.yaml'), 'labs/linux-network.yaml');
    const r = renderKubevirt([plan], OPTS);
    const secrets = r.files.filter((f) => f.object.kind === 'Secret');
    assert.ok(secrets.length > 0, 'the network lab has a VM whose user-data is over 2 KiB');
    for (const s of secrets) {
      const vm = plan.vms.find((v) => `${v.name}-cloud-init` === s.object.metadata.name)!;
      const data = s.object.stringData as { userdata: string; networkdata: string };
      assert.ok(Buffer.byteLength(data.userdata) > 2048 || Buffer.byteLength(data.networkdata) > 2048);
      assert.match(data.userdata, new RegExp(`# vmlab: ${vm.domainName}`));
    }
  });
});
