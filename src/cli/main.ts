#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import { registerRender } from './commands/render.js';
import { registerGraph } from './commands/graph.js';
import { registerSnapshot } from './commands/snapshot.js';
import { registerAssignment } from './commands/assignment.js';
import { registerClass } from './commands/class.js';
import { registerServe } from './commands/serve.js';
import { registerBench } from './commands/bench.js';
import { registerValidate } from './commands/validate.js';
import { registerImage } from './commands/image.js';
import { registerLab } from './commands/lab.js';
import { registerDoctor } from './commands/doctor.js';
import { registerSchema } from './commands/schema.js';
import { registerNet } from './commands/net.js';

const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('vmlab')
    .description('labs of full virtual machines on QEMU/KVM through libvirt')
    .version(pkg.version)
    .option('-c, --connect <uri>', 'libvirt URI (default: $LIBVIRT_DEFAULT_URI or qemu:///system)')
    .option('--data-dir <dir>', 'vmlab data directory (default: $VMLAB_DATA_DIR or /var/lib/vmlab)')
    // Global options before the command only: `capture -c N` is tcpdump's count, not --connect.
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride((err) => {
      // commander's own usage errors are user errors: exit 2.
      process.exit(err.exitCode === 0 ? 0 : 2);
    });
  registerValidate(program);
  registerRender(program);
  registerGraph(program);
  registerImage(program);
  registerLab(program);
  registerSnapshot(program);
  registerNet(program);
  registerAssignment(program);
  registerClass(program);
  registerServe(program);
  registerBench(program);
  registerDoctor(program);
  registerSchema(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
