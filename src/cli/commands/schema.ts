import type { Command } from 'commander';
import { VmlabError } from '../../errors.js';
import { assignmentSchema, labSchema } from '../../lab/schema.js';
import { reportErrors } from '../output.js';

export const SCHEMAS = { lab: labSchema, assignment: assignmentSchema } as const;

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of lab or assignment files (for editors: yaml-language-server)')
    .argument('[kind]', 'lab or assignment', 'lab')
    .action((kind: string) =>
      reportErrors({}, () => {
        const make = SCHEMAS[kind as keyof typeof SCHEMAS];
        if (!make) throw new VmlabError('ERR_VMLAB_USAGE', `no schema "${kind}"`, { kind: 'user', hint: 'vmlab schema lab, or vmlab schema assignment' });
        process.stdout.write(JSON.stringify(make(), null, 2) + '\n');
      }),
    );
}
