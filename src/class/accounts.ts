import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VmlabError } from '../errors.js';
import type { ClassModel } from '../lab/class-file.js';
import { csvCell } from './report.js';

/**
 * Logins for a class (`vmlab class credentials`, used by `vmlab serve`): one
 * per roster entry, plus teachers. Only scrypt hashes are kept, in
 * `<data-dir>/classes/<class>/accounts.json` (mode 0600); a password is shown
 * once, when it is made, and can be revoked or made anew.
 */
export type Role = 'student' | 'teacher';

export interface Account {
  id: string;
  role: Role;
  /** base64 */
  salt: string;
  /** base64 scrypt(password, salt) */
  hash: string;
  createdAt: string;
  revokedAt?: string;
}

export interface NewLogin {
  id: string;
  role: Role;
  name?: string;
  password: string;
}

/** scrypt's cost: N = 2^15, r = 8 (32 MiB, ~0.1 s here): slow for a guesser, fine for a login. */
const SCRYPT: ScryptOptions = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 2 ** 20 };
const KEYLEN = 32;

function derive(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, KEYLEN, SCRYPT, (e, key) => (e ? reject(e) : resolve(key))));
}

/** Letters and digits nobody misreads (no 0/o, 1/l/i): 16 of them are 80 bits, in groups of four. */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
export function newPassword(): string {
  let s = '';
  while (s.length < 16) {
    const b = randomBytes(1)[0]!;
    if (b < 248) s += ALPHABET[b % ALPHABET.length]; // 248 = 8 × 31: every letter equally likely
  }
  return s.match(/.{4}/g)!.join('-');
}

export class AccountStore {
  readonly file: string;
  private accounts: Account[] = [];
  /** What the file was when last read (inode, size, mtime): another process (vmlab class credentials) may change it. */
  private seen = '';

  constructor(dataDir: string, className: string) {
    const dir = join(dataDir, 'classes', className);
    this.file = join(dir, 'accounts.json');
    this.refresh();
  }

  /**
   * Reads the file again when it changed since it was last read (a revoke or reissue by `vmlab
   * class credentials` while `vmlab serve` runs); true when it did. Cheap: one stat.
   */
  refresh(): boolean {
    let now = 'none';
    if (existsSync(this.file)) {
      const st = statSync(this.file, { bigint: true });
      now = `${st.ino}:${st.size}:${st.mtimeNs}`;
    }
    if (now === this.seen) return false;
    this.accounts = now === 'none' ? [] : ((JSON.parse(readFileSync(this.file, 'utf8')) as { accounts: Account[] }).accounts ?? []);
    this.seen = now;
    return true;
  }

  list(): readonly Account[] {
    return this.accounts;
  }

  active(id: string): Account | undefined {
    return this.accounts.find((a) => a.id === id && !a.revokedAt);
  }

  private save(): void {
    const dir = join(this.file, '..');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ accounts: this.accounts }, null, 2) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
    this.seen = '';
    this.refresh();
  }

  /**
   * Makes a login for every given id that has none (or for all, with
   * `reissue`: old passwords stop working). Returns the new passwords: the
   * only time they exist outside the people they are given to.
   */
  async issue(who: Array<{ id: string; role: Role; name?: string }>, opts: { reissue?: boolean } = {}): Promise<NewLogin[]> {
    this.refresh();
    const out: NewLogin[] = [];
    for (const w of who) {
      if (this.active(w.id) && !opts.reissue) continue;
      const password = newPassword();
      const salt = randomBytes(16);
      const hash = await derive(password, salt);
      this.accounts = this.accounts.filter((a) => a.id !== w.id);
      this.accounts.push({ id: w.id, role: w.role, salt: salt.toString('base64'), hash: hash.toString('base64'), createdAt: new Date().toISOString() });
      out.push({ id: w.id, role: w.role, ...(w.name ? { name: w.name } : {}), password });
    }
    if (out.length) this.save();
    return out;
  }

  revoke(id: string): void {
    this.refresh();
    const a = this.active(id);
    if (!a)
      throw new VmlabError('ERR_VMLAB_ACCOUNT_UNKNOWN', `no active login "${id}"`, {
        kind: 'user',
        hint: `its logins: ${
          this.accounts
            .filter((x) => !x.revokedAt)
            .map((x) => x.id)
            .join(', ') || 'none'
        }`,
      });
    a.revokedAt = new Date().toISOString();
    this.save();
  }

  /** The account, when `password` is its password; the same work is done for an unknown id (no timing hint of who exists). */
  async verify(id: string, password: string): Promise<Account | undefined> {
    this.refresh();
    const a = this.active(id);
    const salt = a ? Buffer.from(a.salt, 'base64') : Buffer.alloc(16);
    const got = await derive(password, salt);
    const want = a ? Buffer.from(a.hash, 'base64') : Buffer.alloc(KEYLEN);
    return a && timingSafeEqual(got, want) ? a : undefined;
  }
}

/** Who a class's logins are for: its students, and the teachers named. */
export function classLogins(cls: ClassModel, teachers: string[] = [], only?: string): Array<{ id: string; role: Role; name?: string }> {
  const students = cls.students.filter((s) => only === undefined || s.id === only).map((s) => ({ id: s.id, role: 'student' as const, ...(s.name ? { name: s.name } : {}) }));
  const clash = teachers.find((t) => cls.students.some((s) => s.id === t));
  if (clash)
    throw new VmlabError('ERR_VMLAB_ACCOUNT_CLASH', `"${clash}" is a student of class "${cls.name}" and cannot also be a teacher login`, { kind: 'user', hint: 'give the teacher another id' });
  return [...students, ...teachers.map((t) => ({ id: t, role: 'teacher' as const }))];
}

/** New logins as a CSV an LMS imports (id,name,role,password). */
export function loginsCsv(logins: NewLogin[]): string {
  return ['id,name,role,password', ...logins.map((l) => [l.id, l.name ?? '', l.role, l.password].map(csvCell).join(','))].join('\n') + '\n';
}
