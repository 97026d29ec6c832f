import type { Checker } from './checker.js';
import { ABS_PATH, HASHED_PASSWD, OCTAL_MODE } from './fields.js';
import type { CloudInitSpec, Command, UserSpec, WriteFileSpec } from './model.js';
import type { PathSeg } from './source.js';

/** The `cloud-init:` of a VM: users (hashed passwords only), packages, files, boot and run commands. */
function stringList(c: Checker, segs: PathSeg[], v: unknown, opts: { pattern?: RegExp; what?: string; max?: number } = {}): string[] {
  const items = c.list(segs, v, { max: opts.max ?? 1000 }) ?? [];
  return items.map((x, i) => c.string([...segs, i], x, opts)).filter((x): x is string => x !== undefined);
}

function commands(c: Checker, segs: PathSeg[], v: unknown): Command[] {
  const items = c.list(segs, v, { max: 1000 }) ?? [];
  const out: Command[] = [];
  items.forEach((x, i) => {
    if (typeof x === 'string') out.push(x);
    else if (Array.isArray(x) && x.length > 0 && x.every((a) => typeof a === 'string')) out.push(x as string[]);
    else c.fail([...segs, i], `must be a command string or a list of arguments, not ${Array.isArray(x) ? 'a list with non-strings' : typeof x}`, { value: x });
  });
  return out;
}

export function parseCloudInit(c: Checker, segs: PathSeg[], v: unknown): CloudInitSpec | undefined {
  const empty: CloudInitSpec = { users: [], packages: [], writeFiles: [], runcmd: [], bootcmd: [] };
  if (v === undefined || v === null) return empty;
  const o = c.object(segs, v, { optional: ['users', 'packages', 'write_files', 'runcmd', 'bootcmd'] });
  if (!o) return undefined;
  const users: UserSpec[] = [];
  (c.list([...segs, 'users'], o.users, { max: 50 }) ?? []).forEach((u, i) => {
    const s = [...segs, 'users', i];
    if (u && typeof u === 'object' && !Array.isArray(u) && ('passwd' in u || 'password' in u || 'plain_text_passwd' in u)) {
      const key = 'passwd' in u ? 'passwd' : 'password' in u ? 'password' : 'plain_text_passwd';
      c.fail([...s, key], 'plain-text passwords are not accepted', { atKey: true, hint: 'use hashed_passwd: with the output of `mkpasswd -m sha-512`, or ssh_authorized_keys' });
      return;
    }
    const uo = c.object(s, u, { required: ['name'], optional: ['ssh_authorized_keys', 'hashed_passwd', 'sudo', 'groups', 'shell'] });
    if (!uo) return;
    const name = c.string([...s, 'name'], uo.name, { pattern: /^[a-z_][a-z0-9_-]{0,31}$/, what: 'a Linux user name', hint: 'lowercase letters, digits, "_" and "-", at most 32 characters' });
    const keys = stringList(c, [...s, 'ssh_authorized_keys'], uo.ssh_authorized_keys, {
      pattern: /^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-nistp\d+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( [^\n]*)?$/,
      what: 'an OpenSSH public key',
      max: 50,
    });
    const hashed =
      uo.hashed_passwd === undefined
        ? undefined
        : c.string([...s, 'hashed_passwd'], uo.hashed_passwd, { pattern: HASHED_PASSWD, what: 'a crypt(3) password hash', hint: 'generate one with `mkpasswd -m sha-512`' });
    const sudo = uo.sudo === undefined ? false : c.bool([...s, 'sudo'], uo.sudo);
    const groups = stringList(c, [...s, 'groups'], uo.groups, { pattern: /^[a-z_][a-z0-9_-]{0,31}$/, what: 'a group name', max: 32 });
    const shell = uo.shell === undefined ? undefined : c.string([...s, 'shell'], uo.shell, { pattern: /^\/[A-Za-z0-9/_.-]+$/, what: 'an absolute path' });
    if (name && sudo !== undefined) users.push({ name, sshAuthorizedKeys: keys, sudo, groups, ...(hashed ? { hashedPasswd: hashed } : {}), ...(shell ? { shell } : {}) });
  });
  const packages = stringList(c, [...segs, 'packages'], o.packages, { pattern: /^[a-z0-9][a-z0-9+.:=~-]*$/, what: 'a Debian package name', max: 500 });
  const writeFiles: WriteFileSpec[] = [];
  (c.list([...segs, 'write_files'], o.write_files, { max: 200 }) ?? []).forEach((f, i) => {
    const s = [...segs, 'write_files', i];
    const fo = c.object(s, f, { required: ['path', 'content'], optional: ['permissions', 'owner'] });
    if (!fo) return;
    const path = c.string([...s, 'path'], fo.path, { pattern: ABS_PATH, maxLength: 4096, what: 'an absolute path' });
    const content = c.string([...s, 'content'], fo.content, { maxLength: 1024 * 1024 });
    const permissions =
      fo.permissions === undefined ? undefined : c.string([...s, 'permissions'], fo.permissions, { pattern: OCTAL_MODE, what: 'an octal mode such as "0644"', hint: 'quote it: permissions: "0644"' });
    const owner = fo.owner === undefined ? undefined : c.string([...s, 'owner'], fo.owner, { pattern: /^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$/, what: 'user:group' });
    if (path && content !== undefined) writeFiles.push({ path, content, ...(permissions ? { permissions } : {}), ...(owner ? { owner } : {}) });
  });
  return { users, packages, writeFiles, runcmd: commands(c, [...segs, 'runcmd'], o.runcmd), bootcmd: commands(c, [...segs, 'bootcmd'], o.bootcmd) };
}
