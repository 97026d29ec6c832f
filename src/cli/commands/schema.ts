import type { Command } from 'commander';
import { VmlabError } from '../../errors.js';
import { labSchema } from '../../lab/schema.js';
import { assignmentSchema, classSchema } from '../../lab/schema-files.js';
import { reportErrors } from '../output.js';

export const SCHEMAS = { lab: labSchema, assignment: assignmentSchema, class: classSchema } as const;

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of lab, assignment or class files (for editors: yaml-language-server)')
    .argument('[kind]', 'lab, assignment or class', 'lab')
    .action((kind: string) =>
      reportErrors({}, () => {
        const make = SCHEMAS[kind as keyof typeof SCHEMAS];
        if (!make) throw new VmlabError('ERR_VMLAB_USAGE', `no schema "${kind}"`, { kind: 'user', hint: 'vmlab schema lab | assignment | class' });
        process.stdout.write(JSON.stringify(make(), null, 2) + '\n');
      }),
    );
}
