import type { ParamSpec, ParamType } from '../services/catalog.js';
import { checkService } from '../services/checks.js';
import { closest } from '../util/names.js';
import { Checker, type Obj } from './checker.js';
import { cidr, DNS_HINT, IFNAME, ipv4, MAC } from './fields.js';
import type { NetworkModel, NicSpec, ServiceUse } from './model.js';
import { formatPath, type PathSeg } from './source.js';
import type { ValidateOptions } from './validate.js';

/** Service parameters, typed by each service's service.yaml, checked against the VM's interfaces and the lab's networks. */
/** What a service parameter is checked against: the lab's networks and the VM's own interfaces. */
export interface ParamScope {
  networks: Map<string, NetworkModel> | undefined;
  nics: NicSpec[];
}

export function parseServices(c: Checker, segs: PathSeg[], v: unknown, scope: ParamScope, opts: ValidateOptions): ServiceUse[] | undefined {
  const items = c.list(segs, v, { max: 32 });
  if (!items) return undefined;
  const out: ServiceUse[] = [];
  const known = opts.services.names();
  items.forEach((item, i) => {
    const s = [...segs, i];
    let name: string | undefined;
    let params: unknown = {};
    if (typeof item === 'string') name = item;
    else if (item && typeof item === 'object' && !Array.isArray(item) && Object.keys(item).length === 1) {
      name = Object.keys(item)[0]!;
      params = (item as Obj)[name] ?? {};
    } else {
      c.fail(s, 'must be a service name or "- name: {parameters}"', { value: item, hint: `e.g. "- web" or "- web: { port: 8080 }"` });
      return;
    }
    const def = opts.services.get(name);
    if (!def) {
      const guess = closest(name, known);
      c.fail(typeof item === 'string' ? s : [...s, name], `unknown service "${name}"`, {
        value: name,
        atKey: typeof item !== 'string',
        hint: guess ? `did you mean "${guess}"? (known: ${known.join(', ')})` : `known services: ${known.join(', ')}`,
      });
      return;
    }
    const ps = typeof item === 'string' ? s : [...s, name];
    const before = c.issues.length;
    const values = checkFields(c, ps, params, def.params, scope);
    if (!values || c.issues.length > before) return;
    for (const p of checkService(name, values, scope.nics)) c.fail([...ps, ...p.at], p.message, { value: p.value, hint: p.hint });
    if (c.issues.length === before) out.push({ name, params: values, path: formatPath(ps) });
  });
  const seen = new Set<string>();
  out.forEach((u) => {
    if (seen.has(u.name)) c.fail(segs, `service "${u.name}" is listed twice`, { hint: 'give all its parameters in one entry' });
    seen.add(u.name);
  });
  for (const u of out) {
    for (const r of opts.services.get(u.name)?.requires ?? []) {
      if (!seen.has(r)) c.fail(segs, `service "${u.name}" needs the "${r}" service on the same VM`, { hint: `add "- ${r}" to this VM's services` });
    }
  }
  return out;
}

function checkFields(c: Checker, segs: PathSeg[], v: unknown, fields: Record<string, ParamSpec>, scope: ParamScope): Record<string, unknown> | undefined {
  const o = c.object(segs, v ?? {}, {
    required: Object.entries(fields)
      .filter(([, p]) => p.required)
      .map(([k]) => k),
    optional: Object.keys(fields),
  });
  if (!o) return undefined;
  const r: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(fields)) {
    const val = o[k] === undefined ? f.default : checkParam(c, [...segs, k], o[k], f, scope);
    if (val !== undefined) r[k] = val;
  }
  return r;
}

function checkParam(c: Checker, segs: PathSeg[], v: unknown, spec: ParamSpec, scope: ParamScope): unknown {
  if (spec.type === 'list') {
    const items = c.list(segs, v, { max: spec.max ?? 256 });
    if (!items) return undefined;
    return items.map((x, i) => (spec.items === 'object' ? checkFields(c, [...segs, i], x, spec.fields ?? {}, scope) : checkScalar(c, [...segs, i], x, spec.items ?? 'string', spec, scope)));
  }
  if (spec.type === 'object') return checkFields(c, segs, v, spec.fields ?? {}, scope);
  return checkScalar(c, segs, v, spec.type, spec, scope);
}

const ONE_LINE = /^[^\u0000-\u001f\u007f]*$/;

function checkScalar(c: Checker, segs: PathSeg[], v: unknown, type: ParamType | 'object', spec: ParamSpec, scope: ParamScope): unknown {
  switch (type) {
    case 'string':
      return c.string(segs, v, { maxLength: spec.max ?? 4096, pattern: ONE_LINE, what: 'one line of text', hint: 'no line breaks or control characters' });
    case 'int':
      return c.int(segs, v, spec.min ?? -(2 ** 31), spec.max ?? 2 ** 31);
    case 'port':
      return c.int(segs, v, 1, 65535);
    case 'bool':
      return c.bool(segs, v);
    case 'ipv4': {
      const ip = ipv4(c, segs, v);
      return ip === undefined ? undefined : v;
    }
    case 'cidr': {
      const r = cidr(c, segs, v);
      return r === undefined ? undefined : v;
    }
    case 'ifname':
      return c.string(segs, v, { pattern: IFNAME, what: 'an interface name' });
    case 'interface': {
      const names = scope.nics.map((n) => n.ifname);
      const n = c.string(segs, v, { what: 'an interface name of this VM' });
      if (n !== undefined && !names.includes(n)) {
        const guess = closest(n, names);
        c.fail(segs, `this VM has no interface "${n}"`, {
          value: n,
          hint: `${guess ? `did you mean "${guess}"? ` : ''}its interfaces: ${names.map((x, i) => `${x} (nics[${i}], network ${scope.nics[i]!.network})`).join(', ') || 'none'}`,
        });
        return undefined;
      }
      return n;
    }
    case 'hostname':
      return c.string(segs, v, { pattern: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, what: 'a host name', hint: DNS_HINT });
    case 'domain':
      return c.string(segs, v, {
        pattern: /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
        what: 'a DNS name',
        hint: 'e.g. lab.test: labels of lowercase letters, digits and "-", joined by dots',
      });
    case 'mac':
      return c.string(segs, v, { pattern: MAC, what: 'a MAC address', hint: 'six lowercase hex pairs, e.g. 52:54:00:12:34:56' });
    case 'enum':
      return c.oneOf(segs, v, spec.values ?? [], 'value');
    case 'network': {
      const n = c.string(segs, v, { what: 'a network name' });
      if (n && scope.networks && !scope.networks.has(n)) c.fail(segs, `no network "${n}" in this lab`, { value: n });
      return n;
    }
    default:
      c.fail(segs, `unsupported parameter type ${type}`);
      return undefined;
  }
}
