/**
 * Building blocks of the published JSON Schemas (draft 2020-12): lab files
 * (schema.ts), assignment and class files (schema-files.ts). A `title` names
 * the kind of value for messages (structure.ts), a `description` is what an
 * editor shows.
 */
import { IFNAME as IFNAME_RE, MAC as MAC_RE } from './fields.js';
import { DURATION, PERCENT, RATE } from './link.js';

export type Schema = Record<string, unknown>;

export const DNS_LABEL = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
export const IPV4 = '^(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}$';
export const CIDR = IPV4.slice(0, -1) + '/(3[0-2]|[12]?\\d)$';
export const SIZE = '^\\d+(\\.\\d+)?\\s*(KiB|MiB|GiB|TiB|KB|MB|GB|TB|K|M|G|T)$';
// The validator's own patterns, so the schema and `vmlab validate` agree.
export const MAC = MAC_RE.source;
export const IFNAME = IFNAME_RE.source;

/** A published schema document: what editors fetch by $id. */
export const document = (kind: string, title: string, description: string, body: Schema): Schema => ({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: `https://vmlab.dev/schemas/${kind}.schema.json`,
  title,
  description,
  ...body,
});
export const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
export const obj = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({ type: 'object', additionalProperties: false, properties, ...extra });
/** A list; empty (`key:` with nothing after it) means none. */
export const list = (items: Schema, description: string, extra: Schema = {}): Schema => ({ type: ['array', 'null'], items, description, ...extra });
export const command: Schema = { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }], description: 'a shell line, or an argument list (no shell)' };

export const expect = obj(
  {
    exit: { type: 'integer', minimum: 0, maximum: 255, description: 'the exit code the command must return' },
    output: {
      type: ['string', 'array'],
      format: 'regex',
      items: { type: 'string', format: 'regex' },
      minItems: 1,
      description: 'regular expression(s) the output must match (all of them)',
    },
    'output-not': str('a regular expression the output must not match', { format: 'regex' }),
  },
  { title: 'expectation', minProperties: 1, description: 'what the result must look like (default: exit 0)' },
);
/** A command as an argument list; never a shell line (run [sh, -c, "…"] for one). */
export const run = {
  type: 'array',
  title: 'command as a list of arguments',
  items: { type: 'string' },
  minItems: 1,
  description: 'the command as a list of arguments, run through the guest agent (no shell: write [sh, -c, "…"] for one)',
};

export const probe = obj(
  { name: str('shown while waiting and in errors'), run, expect, timeout: { type: 'integer', minimum: 1, maximum: 600, description: 'seconds one run may take (default 10)' } },
  { required: ['run'] },
);

/** A link's settings: in a lab's NIC (`link:`), a stage's fault, or `vmlab link set`. Ranges are the validator's (lab/link.ts). */
export const linkProperties: Record<string, Schema> = {
  delay: str('one-way delay added to the packets the VM receives over this link, e.g. 40ms', { title: 'duration (us, ms or s)', pattern: DURATION.source }),
  jitter: str('random variation of the delay, e.g. 5ms (needs delay)', { title: 'duration (us, ms or s)', pattern: DURATION.source }),
  loss: str('share of the packets towards the VM that are dropped, e.g. 1%', { title: 'percentage', pattern: PERCENT.source }),
  rate: str('bandwidth towards the VM, e.g. 10mbit', { title: 'rate (bit, kbit, mbit, gbit)', pattern: RATE.source }),
  state: { title: 'link state', enum: ['up', 'down'], description: 'down: as if the cable were pulled (the guest sees no carrier)' },
};
