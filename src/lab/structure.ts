import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { closest } from '../util/names.js';
import { typeName, type Checker } from './checker.js';
import type { PathSeg } from './source.js';

/**
 * The structural half of validation: a file is checked against its published
 * JSON Schema (src/lab/schema.ts) by ajv, and ajv's findings are turned into
 * vmlab's issues — file:line:col, the path in the file, the value and a hint
 * (did you mean …?). The semantic half (addresses in subnets, names that must
 * exist, services' own rules) runs only on a file whose structure is right,
 * so it reads values without checking their types again.
 *
 * Parts of a schema under anyOf/oneOf (a service given by name or with
 * parameters, a command as a string or a list, one probe or a list) are
 * judged by the semantic checks, which say which alternative was meant;
 * ajv's "must match a schema in anyOf" would not.
 */
type Schema = Record<string, unknown>;

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  array: 'a list',
  null: 'empty',
};

/** Hints for values of a kind, by the schema's `title`. */
const HINTS: Record<string, string> = {
  'lab name': 'lowercase letters, digits and "-", at most 24 characters (it becomes part of every libvirt name)',
  'class name': 'lowercase letters, digits and "-", at most 24 characters',
  'assignment name': 'lowercase letters, digits and "-"',
  'student id': 'lowercase letters, digits and "-", at most 12 characters (it becomes part of bridge and domain names)',
  'image name': 'lowercase letters, digits, ".", "_" and "-"',
  size: 'write a number and a unit: 512MiB, 1GiB, 2G',
  'IPv4 address': 'write four numbers 0-255, e.g. 10.0.1.1',
  'address in CIDR form': 'write address/prefix, e.g. 10.0.1.10/24',
  'address in CIDR form, or dhcp': 'write address/prefix, e.g. 10.0.1.10/24, or dhcp',
  'MAC address': 'six lowercase hex pairs, e.g. 52:54:00:12:34:56',
  'interface name': 'at most 15 characters: letters, digits, "_", "-", "."',
  'Linux bridge name': 'at most 15 characters: letters, digits, "_", "-", "."',
  'Linux user name': 'lowercase letters, digits, "_" and "-", at most 32 characters',
  'crypt(3) password hash': 'generate one with `mkpasswd -m sha-512`',
  'octal mode': 'quote it: permissions: "0644"',
  'VM name': 'use lowercase letters, digits and "-", start and end with a letter or digit, at most 63 characters',
  'network name': 'use lowercase letters, digits and "-", start and end with a letter or digit, at most 32 characters',
  'plain-text password': 'use hashed_passwd: with the output of `mkpasswd -m sha-512`, or ssh_authorized_keys',
};

const article = (w: string): string => (/^[aeiouAEIOU]/.test(w) && !/^(user|one)/.test(w) ? `an ${w}` : `a ${w}`);

export class StructureChecker {
  private readonly validate: ValidateFunction;

  constructor(schema: Schema) {
    const ajv = new Ajv2020({ allErrors: true, strict: false, verbose: true });
    ajv.addFormat('regex', { type: 'string', validate: (s: string) => regexProblem(s) === undefined });
    this.validate = ajv.compile(schema);
  }

  /** Records every structural problem of `value` in `c`; true when there is none. */
  check(c: Checker, value: unknown): boolean {
    if (this.validate(value)) return true;
    const before = c.issues.length;
    const seen = new Set<string>();
    for (const e of this.validate.errors ?? []) {
      if (/\/(anyOf|oneOf)(\/|$)/.test(e.schemaPath)) continue;
      const issue = translate(e);
      if (!issue) continue;
      const key = `${issue.segs.join('\u0000')}|${issue.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      c.fail(issue.segs, issue.message, { value: issue.value, hint: issue.hint, atKey: issue.atKey });
    }
    // In the order of the file.
    const found = c.issues.splice(before).sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    c.issues.push(...found);
    // Only anyOf/oneOf findings: the semantic checks name them.
    return found.length === 0;
  }
}

/** Why `s` is not a JavaScript regular expression (as checks and probes use them), or undefined. */
function regexProblem(s: string): string | undefined {
  try {
    new RegExp(s, 'm');
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

interface Translated {
  segs: PathSeg[];
  message: string;
  value?: unknown;
  hint?: string;
  atKey?: boolean;
}

/** `/vms/a/nics/0` → ['vms', 'a', 'nics', 0] (JSON Pointer, RFC 6901). */
export function pointerSegs(pointer: string): PathSeg[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

function translate(e: ErrorObject): Translated | undefined {
  // A bad key is reported once, by its propertyNames error, not by each rule it breaks.
  if (e.propertyName !== undefined && e.keyword !== 'propertyNames') return undefined;
  const segs = pointerSegs(e.instancePath);
  const schema = (e.parentSchema ?? {}) as Schema;
  const title = typeof schema.title === 'string' ? schema.title : undefined;
  const hint = title ? HINTS[title] : undefined;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const k = String(p.additionalProperty);
      const allowed = Object.keys((schema.properties as Schema | undefined) ?? {}).filter((x) => (schema.properties as Schema)[x] !== false);
      const guess = closest(k, allowed);
      return { segs: [...segs, k], message: `unknown key "${k}"`, atKey: true, hint: guess ? `did you mean "${guess}"?` : `allowed keys: ${allowed.join(', ')}` };
    }
    case 'not':
    case 'false schema':
      return title === 'plain-text password'
        ? { segs, message: 'plain-text passwords are not accepted', atKey: true, ...(hint ? { hint } : {}) }
        : { segs, message: 'is not allowed here', atKey: true, ...(hint ? { hint } : {}) };
    case 'required':
      return { segs, message: `missing required key "${String(p.missingProperty)}"` };
    case 'type': {
      const wanted = ([] as string[]).concat(schema.type as string | string[]).filter((t) => t !== 'null');
      if (title === 'size' && typeof e.data === 'number') return { segs, message: 'needs a unit', value: e.data, hint: `write "${e.data}MiB" or "${e.data}GiB"` };
      const named = schema.propertyNames !== undefined;
      const what = named ? 'a mapping of names to definitions' : title && wanted[0] === 'string' ? article(title) : wanted.map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      if (title === 'command as a list of arguments')
        return { segs, message: 'must be a command as a list of arguments', value: e.data, hint: 'e.g. run: [curl, -s, http://10.0.0.10/] (use [sh, -c, "..."] for a shell)' };
      const typeHint = named && Array.isArray(e.data) ? 'write `name:` keys instead of a `- ` list' : wanted[0] === 'array' ? 'start each item with "- "' : hint;
      return { segs, message: `must be ${what}, not ${typeName(e.data)}`, value: e.data, ...(typeHint ? { hint: typeHint } : {}) };
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map(String);
      const guess = typeof e.data === 'string' ? closest(e.data, allowed) : undefined;
      return {
        segs,
        message: `unknown ${title ?? 'value'}`,
        value: e.data,
        hint: guess ? `did you mean "${guess}"? (one of: ${allowed.join(', ')})` : `one of: ${allowed.join(', ')}`,
      };
    }
    case 'const':
      return { segs, message: `must be ${JSON.stringify(p.allowedValue)}`, value: e.data };
    case 'minimum':
    case 'maximum': {
      const min = schema.minimum as number | undefined;
      const max = schema.maximum as number | undefined;
      const range = min !== undefined && max !== undefined ? `between ${min} and ${max}` : min !== undefined ? `at least ${min}` : `at most ${max}`;
      return { segs, message: `must be ${range}`, value: e.data };
    }
    case 'maxItems':
      return { segs, message: `at most ${String(p.limit)} items allowed, got ${(e.data as unknown[]).length}` };
    case 'minItems':
      return { segs, message: `needs at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}` };
    case 'format':
      return { segs, message: `is not a regular expression: ${regexProblem(String(e.data)) ?? ''}`, value: e.data };
    case 'minProperties':
      if (title === 'expectation') return { segs, message: 'expects nothing', hint: 'give exit:, output: or output-not:' };
      return { segs, message: `needs at least ${String(p.limit)} ${title ?? 'entry'}` };
    case 'maxProperties':
      return { segs, message: `at most ${String(p.limit)} entries allowed, got ${Object.keys(e.data as object).length}` };
    case 'maxLength':
      return { segs, message: `is too long (${(e.data as string).length} > ${String(p.limit)} characters)`, value: e.data, ...(hint ? { hint } : {}) };
    case 'minLength':
      return { segs, message: 'must not be empty', value: e.data };
    case 'pattern':
      return { segs, message: `is not ${title ? article(title) : 'valid'}`, value: e.data, ...(hint ? { hint } : {}) };
    case 'propertyNames': {
      const name = String(p.propertyName);
      const names = (schema.propertyNames ?? {}) as Schema;
      const what = typeof names.title === 'string' ? names.title : 'name';
      const label = typeof names.pattern === 'string' && !new RegExp(names.pattern, 'u').test(name) ? 'is not a DNS label' : 'is too long';
      return { segs: [...segs, name], message: `${what} ${label}`, value: name, atKey: true, ...(HINTS[what] ? { hint: HINTS[what] } : {}) };
    }
    default:
      return { segs, message: e.message ?? 'is not valid', value: e.data };
  }
}
