import { VmlabError } from '../../errors.js';
import type { Plan, VmPlan } from '../../plan/plan.js';
import type { DeviceProfile } from '../../profiles/index.js';
import { renderNetworkConfig, renderUserData } from '../cloud-init.js';
import { KUBEVIRT_RULES, kubevirtProblems, namespaceOf } from './rules.js';

/** A Kubernetes object as vmlab writes it (checked against KubeVirt's API types in the tests). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface KubevirtOptions {
  /** Where the cluster pulls vmlab's images from: `<registry>/<image>:<tag>` (vmlab image export … --format containerdisk). */
  registry: string;
  /** The tag of each image: its cache version, the same one the exported archive is tagged with. */
  imageTags: Readonly<Record<string, string>>;
}

export interface RenderedManifests {
  /** One object per file, named so that `kubectl apply -f DIR` creates namespaces first. */
  files: Array<{ file: string; object: KubeObject }>;
  /** What the manifests cannot decide for the cluster (said in the output and in DIR/README.txt). */
  notes: string[];
}

const LABEL = 'vmlab.dev';

/**
 * Lab copies (one lab, or every student's copy of a class) → plain Kubernetes
 * objects for KubeVirt: per copy a Namespace, a Multus bridge network per lab
 * network, a VirtualMachine per VM (and a Secret where cloud-init is too big
 * to be inline). Pure. Everything that cannot map is an error naming it.
 */
export function renderKubevirt(plans: readonly Plan[], opts: KubevirtOptions): RenderedManifests {
  const problems = plans.flatMap((p) => kubevirtProblems(p).map((x) => (plans.length > 1 ? `${p.lab.name}: ${x}` : x)));
  if (problems.length) {
    throw new VmlabError('ERR_VMLAB_KUBEVIRT_UNMAPPABLE', `cannot render for KubeVirt:\n  ${problems.join('\n  ')}`, {
      kind: 'user',
      hint: 'each line says what to change; the libvirt target (vmlab render LAB --out DIR) renders this lab as it is',
    });
  }
  const files: RenderedManifests['files'] = [];
  const notes = new Set<string>();
  for (const plan of plans) {
    const ns = namespaceOf(plan);
    const labels = copyLabels(plan);
    files.push({ file: `00-${ns}-namespace.yaml`, object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } } });
    for (const n of plan.networks) {
      const config = { cniVersion: '0.3.1', name: n.name, type: 'bridge', bridge: n.bridge, ...(n.mtu ? { mtu: n.mtu } : {}), ipam: {} };
      files.push({
        file: `10-${ns}-network-${n.name}.yaml`,
        object: {
          apiVersion: 'k8s.cni.cncf.io/v1',
          kind: 'NetworkAttachmentDefinition',
          metadata: {
            name: n.name,
            namespace: ns,
            labels: { ...labels, [`${LABEL}/network`]: n.name },
            annotations: { [`${LABEL}/why`]: 'an isolated Linux bridge on the node, no IPAM: addresses come from cloud-init, as on libvirt' },
          },
          spec: { config: JSON.stringify(config) },
        },
      });
    }
    for (const vm of plan.vms) {
      const cloud = { userData: renderUserData(plan, vm), networkData: renderNetworkConfig(plan, vm) };
      const big = Buffer.byteLength(cloud.userData) > KUBEVIRT_RULES.cloudInitInlineMax || Buffer.byteLength(cloud.networkData) > KUBEVIRT_RULES.cloudInitInlineMax;
      const secret = `${vm.name}-cloud-init`;
      if (big) {
        files.push({
          file: `20-${ns}-secret-${secret}.yaml`,
          object: {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: secret, namespace: ns, labels: { ...labels, [`${LABEL}/vm`]: vm.name } },
            type: 'Opaque',
            stringData: { userdata: cloud.userData, networkdata: cloud.networkData },
          },
        });
      }
      files.push({ file: `30-${ns}-vm-${vm.name}.yaml`, object: virtualMachine(plan, vm, ns, labels, opts, big ? secret : undefined) });
      if (vm.accelRequested === 'tcg')
        notes.add(
          `${vm.name} asks for accel tcg: KubeVirt's software emulation is a cluster-wide setting (KubeVirt CR spec.configuration.developerConfiguration.useEmulation: true), not one of the VM's; these manifests leave it to the cluster`,
        );
      if (vm.profile.family === 'emulated')
        notes.add(
          `${vm.name}: KubeVirt adds its own virtio-serial channel for the guest agent to every VM, so emulated guests there are not free of virtio devices (their disks and NICs are emulated)`,
        );
    }
  }
  return { files, notes: [...notes] };
}

function copyLabels(plan: Plan): Record<string, string> {
  const lab = plan.lab.owner ? plan.lab.name.slice(0, -(plan.lab.owner.student.length + 2)) : plan.lab.name;
  return {
    [`${LABEL}/lab`]: lab,
    [`${LABEL}/copy`]: namespaceOf(plan),
    ...(plan.lab.owner ? { [`${LABEL}/class`]: plan.lab.owner.class, [`${LABEL}/student`]: plan.lab.owner.student } : {}),
  };
}

function virtualMachine(plan: Plan, vm: VmPlan, ns: string, labels: Record<string, string>, opts: KubevirtOptions, secret: string | undefined): KubeObject {
  const p = vm.profile as DeviceProfile; // containers are refused by kubevirtProblems
  const image = vm.image!.name;
  const tag = opts.imageTags[image] ?? 'latest';
  const own = { ...labels, [`${LABEL}/vm`]: vm.name };
  const data = vm.disks.filter((d) => d.role === 'data');
  const seedBus = p.seed.value.bus;
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: {
      name: vm.name,
      namespace: ns,
      labels: own,
      annotations: {
        [`${LABEL}/profile`]: p.name,
        [`${LABEL}/vm-hash`]: vm.hash,
        [`${LABEL}/lab-hash`]: plan.lab.fileHash,
        [`${LABEL}/file`]: plan.lab.file,
        ...(vm.description ? { [`${LABEL}/description`]: vm.description } : {}),
      },
    },
    spec: {
      runStrategy: 'Always',
      template: {
        metadata: { labels: own },
        spec: {
          domain: {
            machine: { type: 'q35' },
            cpu: { cores: vm.vcpus },
            memory: { guest: `${vm.memoryMiB}Mi` },
            resources: { requests: { memory: `${vm.memoryMiB}Mi` } },
            devices: {
              autoattachGraphicsDevice: false,
              autoattachPodInterface: false,
              autoattachMemBalloon: p.memballoon.value.model !== 'none',
              ...(p.rng.value ? { rng: {} } : {}),
              disks: [
                { name: 'rootdisk', disk: { bus: p.diskBus.value }, bootOrder: 1 },
                ...data.map((d, i) => ({ name: `disk${i + 1}`, disk: { bus: d.bus } })),
                { name: 'cloudinitdisk', disk: { bus: seedBus === 'ide' ? 'sata' : seedBus } },
              ],
              interfaces: vm.nics.map((n) => ({ name: n.network, bridge: {}, model: n.model, macAddress: n.mac, ...(n.link.state === 'down' ? { state: 'down' } : {}) })),
            },
          },
          networks: vm.nics.map((n) => ({ name: n.network, multus: { networkName: n.network } })),
          // Bridge networks are node-local: a copy's VMs meet only on one node.
          affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { [`${LABEL}/copy`]: ns } }, topologyKey: 'kubernetes.io/hostname' }] } },
          volumes: [
            { name: 'rootdisk', containerDisk: { image: `${opts.registry}/${image}:${tag}` } },
            ...data.map((d, i) => ({ name: `disk${i + 1}`, emptyDisk: { capacity: `${Math.round(d.sizeBytes! / 2 ** 20)}Mi` } })),
            {
              name: 'cloudinitdisk',
              cloudInitNoCloud: secret ? { secretRef: { name: secret }, networkDataSecretRef: { name: secret } } : { userData: renderUserData(plan, vm), networkData: renderNetworkConfig(plan, vm) },
            },
          ],
        },
      },
    },
  };
}
