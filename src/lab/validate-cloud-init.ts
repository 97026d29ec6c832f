import type { Checker } from './checker.js';
import type { CloudInitSpec, Command } from './model.js';
import type { RawCloudInit } from './raw.js';
import type { PathSeg } from './source.js';

/**
 * The `cloud-init:` of a VM: users (hashed passwords only), packages, files,
 * boot and run commands. Its structure (keys, names, hashes, paths, modes,
 * sizes, plain-text passwords refused) is the schema's; what is left here is
 * each command, which may be a string or a list of arguments.
 */
function commands(c: Checker, segs: PathSeg[], items: unknown[] | null | undefined): Command[] {
  const out: Command[] = [];
  (items ?? []).forEach((x, i) => {
    if (typeof x === 'string') out.push(x);
    else if (Array.isArray(x) && x.length > 0 && x.every((a) => typeof a === 'string')) out.push(x as string[]);
    else c.fail([...segs, i], `must be a command string or a list of arguments, not ${Array.isArray(x) ? 'a list with non-strings' : typeof x}`, { value: x });
  });
  return out;
}

export function parseCloudInit(c: Checker, segs: PathSeg[], o: RawCloudInit | null | undefined): CloudInitSpec | undefined {
  if (!o) return { users: [], packages: [], writeFiles: [], runcmd: [], bootcmd: [] };
  const before = c.issues.length;
  const spec: CloudInitSpec = {
    users: (o.users ?? []).map((u) => ({
      name: u.name,
      sshAuthorizedKeys: u.ssh_authorized_keys ?? [],
      sudo: u.sudo ?? false,
      groups: u.groups ?? [],
      ...(u.hashed_passwd ? { hashedPasswd: u.hashed_passwd } : {}),
      ...(u.shell ? { shell: u.shell } : {}),
    })),
    packages: o.packages ?? [],
    writeFiles: (o.write_files ?? []).map((f) => ({ path: f.path, content: f.content, ...(f.permissions ? { permissions: f.permissions } : {}), ...(f.owner ? { owner: f.owner } : {}) })),
    runcmd: commands(c, [...segs, 'runcmd'], o.runcmd),
    bootcmd: commands(c, [...segs, 'bootcmd'], o.bootcmd),
  };
  return c.issues.length === before ? spec : undefined;
}
