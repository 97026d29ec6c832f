import { accelNames, DISK_BUSES, NIC_MODELS, profileNames } from '../profiles/index.js';
import type { ParamSpec, ServiceCatalog } from '../services/catalog.js';
import { defaultServiceCatalog } from '../services/catalog.js';
import { ABS_PATH, DEBIAN_PACKAGE, DNS_DOMAIN, HASHED_PASSWD, IMAGE_NAME, LAB_NAME, LIMITS, LINUX_USER, OCTAL_MODE, OWNER, SHELL_PATH, SSH_PUBLIC_KEY } from './fields.js';
import { CIDR, command, DNS_LABEL, document, IFNAME, IPV4, linkProperties, list, MAC, obj, probe, SIZE, str, type Schema } from './schema-parts.js';

/**
 * The published JSON Schema (draft 2020-12) of lab files, for
 * editors (yaml-language-server completes and checks with them) and other
 * tools. Built from the same tables validation uses: device profiles,
 * accelerators, buses, NIC models and every service's parameters, so a new
 * profile or service appears in the schema by itself. Structure only: what
 * depends on other parts of the file (addresses in subnets, names that must
 * exist, services' own checks) is validation's, with file:line:col and hints.
 */
function paramSchema(p: ParamSpec): Schema {
  const d = p.description ? { description: p.description } : {};
  const def = p.default !== undefined ? { default: p.default } : {};
  if (p.type === 'list')
    return { type: 'array', items: paramSchema({ ...p, type: p.items ?? 'string', description: undefined, default: undefined }), ...(p.max ? { maxItems: p.max } : {}), ...d, ...def };
  if (p.type === 'object')
    return {
      ...obj(Object.fromEntries(Object.entries(p.fields ?? {}).map(([k, f]) => [k, paramSchema(f)])), {
        required: Object.entries(p.fields ?? {})
          .filter(([, f]) => f.required)
          .map(([k]) => k),
      }),
      ...d,
    };
  const scalar: Record<string, Schema> = {
    string: { type: 'string' },
    int: { type: 'integer', ...(p.min !== undefined ? { minimum: p.min } : {}), ...(p.max !== undefined ? { maximum: p.max } : {}) },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    bool: { type: 'boolean' },
    ipv4: { type: 'string', pattern: IPV4 },
    cidr: { type: 'string', pattern: CIDR },
    network: { type: 'string', pattern: CIDR },
    ifname: { type: 'string', pattern: IFNAME },
    interface: { type: 'string', pattern: IFNAME, description: "one of the VM's interfaces: eth0, eth1… in nics: order, or a nics[].name" },
    hostname: { type: 'string', pattern: DNS_LABEL },
    domain: { type: 'string' },
    mac: { type: 'string', pattern: MAC },
    enum: { enum: p.values ?? [] },
  };
  return { ...(scalar[p.type] ?? { type: 'string' }), ...d, ...def };
}

function serviceSchema(catalog: ServiceCatalog): Schema {
  const names = catalog.names();
  const withParams = names.map((n) => {
    const def = catalog.get(n)!;
    const params = obj(Object.fromEntries(Object.entries(def.params).map(([k, p]) => [k, paramSchema(p)])), {
      required: Object.entries(def.params)
        .filter(([, p]) => p.required)
        .map(([k]) => k),
    });
    return { type: 'object', additionalProperties: false, required: [n], properties: { [n]: { ...params, description: def.description } }, description: def.description };
  });
  return { anyOf: [{ enum: names, description: 'a service with its default parameters' }, ...withParams] };
}

export function labSchema(catalog: ServiceCatalog = defaultServiceCatalog()): Schema {
  const size = str('a size with a unit: KiB MiB GiB (binary), KB MB GB (decimal)', { title: 'size', pattern: SIZE });
  const profile = { title: 'device profile', enum: profileNames, description: 'device model (src/profiles/)' };
  const accel = { title: 'accelerator', enum: [...accelNames], description: 'kvm, tcg, or auto: kvm where KVM can run a stock guest here' };
  const image = str('guest image: built by vmlab, pulled or imported (vmlab image list)', { title: 'image name', pattern: IMAGE_NAME.source });
  const vcpus = { type: 'integer', minimum: 1, maximum: LIMITS.maxVcpus };
  const nic = obj(
    {
      network: str('a network of this lab'),
      ip: str('a static address in CIDR form, or dhcp', { title: 'address in CIDR form, or dhcp', pattern: `^(dhcp|${CIDR.slice(1, -1)})$` }),
      gateway: str('default route', { title: 'IPv4 address', pattern: IPV4 }),
      dns: list({ type: 'string', title: 'IPv4 address', pattern: IPV4 }, 'DNS servers', { maxItems: 3 }),
      mac: str('default: a stable MAC from lab, VM and NIC index', { title: 'MAC address', pattern: MAC }),
      model: { title: 'NIC model', enum: [...NIC_MODELS], description: "overrides the profile's NIC model" },
      name: str('interface name in the guest (default eth<index>)', { title: 'interface name', pattern: IFNAME }),
      link: obj(linkProperties, {
        type: ['object', 'null'],
        description: "the link's state and impairment (re-applied after up, snapshot revert and reset); vmlab link set changes it until then",
      }),
    },
    { required: ['network'] },
  );
  const disk = obj(
    { size, bus: { title: 'disk bus', enum: [...DISK_BUSES], description: "default: the profile's disk bus" }, format: { title: 'disk format', enum: ['qcow2', 'raw'] } },
    { required: ['size'] },
  );
  const plainPassword = { title: 'plain-text password', description: 'refused: plain-text passwords end up in the seed image; use hashed_passwd' };
  const user = obj(
    {
      name: str('user name', { title: 'Linux user name', pattern: LINUX_USER.source }),
      ssh_authorized_keys: list(str('an OpenSSH public key', { title: 'OpenSSH public key', pattern: SSH_PUBLIC_KEY.source }), 'public keys', { maxItems: 50 }),
      hashed_passwd: str('a crypt(3) hash (mkpasswd -m sha-512); plain text is refused', { title: 'crypt(3) password hash', pattern: HASHED_PASSWD.source }),
      passwd: { ...plainPassword, not: {} },
      password: { ...plainPassword, not: {} },
      plain_text_passwd: { ...plainPassword, not: {} },
      sudo: { type: 'boolean' },
      groups: list(str('a group', { title: 'group name', pattern: LINUX_USER.source }), 'extra groups', { maxItems: 32 }),
      shell: str('login shell', { title: 'absolute path', pattern: SHELL_PATH.source }),
    },
    { required: ['name'] },
  );
  const cloudInit = obj(
    {
      users: list(user, 'users to create', { maxItems: 50 }),
      packages: list(str('a package', { title: 'Debian package name', pattern: DEBIAN_PACKAGE.source }), 'packages (guests have no internet in tests: the image preinstalls the lab tools)', {
        maxItems: 500,
      }),
      write_files: list(
        obj(
          {
            path: str('absolute path', { title: 'absolute path', pattern: ABS_PATH.source, maxLength: 4096 }),
            content: str('file content', { maxLength: 1024 * 1024 }),
            permissions: str('octal mode', { title: 'octal mode', pattern: OCTAL_MODE.source }),
            owner: str('user:group', { title: 'user:group', pattern: OWNER.source }),
          },
          { required: ['path', 'content'] },
        ),
        'files to write',
        { maxItems: 200 },
      ),
      runcmd: list(command, 'commands run once at the end of provisioning', { maxItems: 1000 }),
      bootcmd: list(command, 'commands run early at every boot', { maxItems: 1000 }),
    },
    { type: ['object', 'null'] },
  );
  const vm = obj(
    {
      kind: {
        title: 'kind of guest',
        enum: ['vm', 'container'],
        description: "vm (default): a virtual machine; container: a system container on the host's kernel, on the same bridges",
      },
      description: str('what this VM is for', { maxLength: 2000 }),
      image,
      memory: size,
      vcpus,
      profile,
      accel,
      count: { type: 'integer', minimum: 1, maximum: LIMITS.maxCount, description: 'stamp out <name>1…<name>N with consecutive addresses' },
      disks: list(disk, 'extra disks besides the system disk', { maxItems: LIMITS.maxDisks }),
      nics: list(nic, 'network interfaces, eth0 first', { maxItems: LIMITS.maxNics }),
      'cloud-init': cloudInit,
      services: list(serviceSchema(catalog), 'services from templates/services/, each with its parameters', { maxItems: 32 }),
      ready: {
        oneOf: [
          probe,
          list(probe, "more readiness probes besides the services' own"),
          obj(
            {
              console: str('a regular expression the serial console prints when the guest is ready (provision: none), e.g. "login:"', { format: 'regex' }),
              tcp: { type: 'integer', minimum: 1, maximum: 65535, description: 'ready when this TCP port of the guest answers the host (provision: none; the network needs a host-address)' },
              address: str("the guest's address to connect to (default: its NIC's ip: on a network with a host-address)", { title: 'IPv4 address', pattern: IPV4 }),
            },
            { anyOf: [{ required: ['console'] }, { required: ['tcp'] }], dependentRequired: { address: ['tcp'] } },
          ),
        ],
      },
      boot: { title: 'boot device', enum: ['disk', 'cdrom'], description: 'disk (default) or cdrom: the install media of cdrom:' },
      cdrom: str('install media (an ISO), attached read-only, relative to the lab file; never modified', { title: 'path' }),
      provision: {
        title: 'provisioning',
        enum: ['cloud-init', 'none'],
        description: 'cloud-init (default): vmlab seeds and watches the guest; none: an unmodified OS, no seed, no guest agent',
      },
    },
    { type: ['object', 'null'] },
  );
  const network = obj(
    {
      description: str('what this network is for', { maxLength: 500 }),
      mode: { title: 'network mode', enum: ['isolated', 'bridge', 'nat'], description: 'isolated (default): a bridge of its own, no route anywhere' },
      bridge: str('an existing host bridge (mode bridge)', { title: 'Linux bridge name', pattern: IFNAME }),
      subnet: str('lets vmlab check addresses', { title: 'address in CIDR form', pattern: CIDR }),
      'host-address': str("the host's address on the bridge", { title: 'IPv4 address', pattern: IPV4 }),
      dhcp: obj(
        { start: str('first address', { title: 'IPv4 address', pattern: IPV4 }), end: str('last address', { title: 'IPv4 address', pattern: IPV4 }) },
        { required: ['start', 'end'], description: 'libvirt DHCP (nat networks)' },
      ),
      mtu: { type: 'integer', minimum: 576, maximum: 9000 },
    },
    { type: ['object', 'null'] },
  );
  return document(
    'lab',
    'vmlab lab file',
    'A lab of full virtual machines: networks (Linux bridges), VMs with a device model, services and readiness probes.',
    obj(
      {
        name: str('lab name: lowercase, digits, "-", at most 24 characters', { title: 'lab name', pattern: LAB_NAME.source }),
        description: str('what this lab is for', { maxLength: 2000 }),
        domain: str("DNS domain of the lab's hosts (default <name>.lab)", { title: 'DNS domain', pattern: DNS_DOMAIN.source, maxLength: 200 }),
        defaults: obj({ image, memory: size, vcpus, profile, accel }, { type: ['object', 'null'], description: 'apply to every VM unless it says otherwise' }),
        networks: {
          type: ['object', 'null'],
          propertyNames: { title: 'network name', pattern: DNS_LABEL, maxLength: 32 },
          additionalProperties: network,
          maxProperties: LIMITS.maxNetworks,
        },
        vms: { type: 'object', title: 'VM', propertyNames: { title: 'VM name', pattern: DNS_LABEL }, additionalProperties: vm, minProperties: 1 },
      },
      { required: ['name', 'vms'] },
    ),
  );
}
