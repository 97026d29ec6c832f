import { ASSIGNMENT_NAME, LAB_NAME, SNAPSHOT_NAME, STUDENT_ID } from './fields.js';
import { document, expect, linkProperties, list, obj, run, SIZE, str, type Schema } from './schema-parts.js';

/**
 * The published JSON Schemas of assignment files (one stage, or `stages:`)
 * and class files. Structure only, like the lab's: which VMs exist, which
 * files can be read and what a roster holds are the loaders' checks.
 */
const timeout = (max: number, dflt: number): Schema => ({ type: 'integer', minimum: 1, maximum: max, description: `seconds (default ${dflt})` });

const check = obj(
  {
    name: str('shown in the score table and JUnit', { maxLength: 200 }),
    vm: str('a VM of the lab'),
    run,
    expect,
    points: { type: 'integer', minimum: 0, maximum: 1000, description: 'default 1' },
    message: str("the teacher's words when it fails", { maxLength: 2000 }),
    timeout: timeout(3600, 60),
    within: {
      type: 'integer',
      minimum: 1,
      maximum: 3600,
      description: 'seconds the check may take to pass: it is run again (every second) until it passes or the time is up, e.g. to grade recovery from a fault',
    },
    guard: { type: 'boolean', description: 'a check that passes from the start and must keep passing (e.g. "port 80 still works"): verify does not expect it to fail before the solution' },
  },
  { required: ['name', 'vm', 'run'] },
);

/**
 * A step a teacher's stage takes: a command in a guest (vm + run; it must
 * exit 0), or a fault on a link (link: VM:INTERFACE with a state and/or an
 * impairment, as vmlab link set). Which one is the loader's check.
 */
const step = obj(
  {
    name: str('shown in progress and errors', { maxLength: 200 }),
    vm: str('a VM of the lab (with run)'),
    run,
    timeout: timeout(600, 60),
    link: str('VM:INTERFACE whose link this step changes (a fault), e.g. r1:eth1', { pattern: '^[^:\\s]+:[^:\\s]+$', title: 'VM:INTERFACE' }),
    ...linkProperties,
    clear: { type: 'boolean', description: 'with link: remove every impairment first' },
  },
  {},
);

const checks = list(check, 'commands run in guests through the guest agent', { minItems: 1, maxItems: 500 });
const setup = list(step, 'applied when the stage begins (after start, reset and rescue too): commands that break or prepare something', { maxItems: 100 });
const solution = list(step, "the teacher's solution: after it, every check of the stage passes (vmlab assignment verify proves it)", { maxItems: 100 });

export function assignmentSchema(): Schema {
  const stage = obj(
    {
      name: str('a short name, shown in tables', { title: 'stage name', pattern: ASSIGNMENT_NAME.source }),
      title: str('one line', { maxLength: 200 }),
      tasks: str('what students are asked to do in this stage', { maxLength: 100_000 }),
      setup,
      checks,
      solution,
    },
    { required: ['checks'] },
  );
  return document(
    'assignment',
    'vmlab assignment file',
    'A lab in a known state (a checkpoint), tasks for students and the checks that grade them; in one stage, or in stages with a checkpoint each.',
    obj(
      {
        assignment: str('assignment name', { title: 'assignment name', pattern: ASSIGNMENT_NAME.source }),
        title: str('one line', { maxLength: 200 }),
        lab: str('the lab file, relative to this file'),
        checkpoint: str('the lab snapshot students start from (default start); stage N starts from <checkpoint>-stageN', { title: 'snapshot name', pattern: SNAPSHOT_NAME.source }),
        tasks: str('what students are asked to do', { maxLength: 100_000 }),
        setup,
        checks,
        solution,
        stages: list(stage, 'stages in order: each starts from the previous one solved', { minItems: 1, maxItems: 20 }),
        rescued: {
          enum: ['no-points', 'points'],
          description: "how the checks of stages a student skipped with a rescue are scored: no-points (the default: those stages' solutions came with the checkpoint) or points",
        },
      },
      { required: ['assignment', 'lab'] },
    ),
  );
}

export function classSchema(): Schema {
  const student = {
    anyOf: [
      str('a student id', { title: 'student id', pattern: STUDENT_ID.source }),
      obj({ id: str('a student id', { title: 'student id', pattern: STUDENT_ID.source }), name: str('display name', { maxLength: 200 }) }, { required: ['id'] }),
    ],
  };
  return document(
    'class',
    'vmlab class file',
    'A class: one copy of a lab (or of an assignment and its lab) per student, each on its own bridges.',
    obj(
      {
        class: str('class name: lowercase, digits, "-", at most 24 characters', { title: 'class name', pattern: LAB_NAME.source }),
        title: str('one line', { maxLength: 200 }),
        assignment: str('the assignment file, relative to this file (or give lab:)'),
        lab: str('the lab file, relative to this file (or give assignment:)'),
        students: {
          anyOf: [str('a roster file (CSV: id[,display name]), relative to this file'), { type: 'array', items: student, minItems: 1, maxItems: 500 }],
          description: 'a roster file, or a list of ids (or {id, name})',
        },
        'host-keys': {
          title: 'SSH host keys',
          enum: ['shared', 'distinct'],
          description: "copies forked from one guest have its SSH host keys (shared, the default: their bridges never meet); distinct: each forked copy's guests make new ones",
        },
        limits: obj(
          {
            memory: str('guest memory the class may use (default: what the host can give, less a reserve)', { title: 'size', pattern: SIZE }),
            disk: str('disk space the class may use (default: what the data directory has free, less a reserve)', { title: 'size', pattern: SIZE }),
            'parallel-boots': { type: 'integer', minimum: 1, maximum: 64, description: "students' labs booting at once (default: from cores, accel and the lab's size)" },
            'parallel-checks': { type: 'integer', minimum: 1, maximum: 64, description: 'students checked at once (default 4)' },
          },
          { type: ['object', 'null'] },
        ),
      },
      { required: ['class', 'students'] },
    ),
  );
}
