import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI } from '../helpers/live.js';
import { AccountStore, classLogins, loginsCsv, newPassword } from '../../src/class/accounts.js';
import { loadClass } from '../../src/lab/class-file.js';
import { root } from '../helpers/lab.js';

const cls = loadClass(join(root, 'classes', 'pair.yaml'));

describe('class logins (vmlab class credentials)', function () {
  this.timeout(20_000);

  it('passwords are 16 unambiguous characters in groups of four, never the same twice', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = newPassword();
      assert.match(p, /^[a-hjkmnp-z2-9]{4}(-[a-hjkmnp-z2-9]{4}){3}$/);
      seen.add(p);
    }
    assert.equal(seen.size, 200);
  });

  it('one login per student and teacher, stored as scrypt hashes only (mode 0600); verify, revoke, reissue', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmlab-accounts-'));
    const store = new AccountStore(dir, cls.name);
    const made = await store.issue(classLogins(cls, ['teach']));
    assert.deepEqual(
      made.map((l) => [l.id, l.role]),
      [
        ['ana', 'student'],
        ['ben', 'student'],
        ['cai', 'student'],
        ['teach', 'teacher'],
      ],
    );
    const text = readFileSync(store.file, 'utf8');
    for (const l of made) assert.ok(!text.includes(l.password), 'no password on disk');
    assert.equal(statSync(store.file).mode & 0o777, 0o600);

    const again = new AccountStore(dir, cls.name);
    assert.equal((await again.verify('ana', made[0]!.password))?.role, 'student');
    assert.equal(await again.verify('ana', made[1]!.password), undefined, "ben's password is not ana's");
    assert.equal(await again.verify('nobody', made[0]!.password), undefined);
    assert.deepEqual(await again.issue(classLogins(cls)), [], 'idempotent: who has a login keeps it');

    again.revoke('ben');
    assert.equal(await new AccountStore(dir, cls.name).verify('ben', made[1]!.password), undefined, 'a revoked login no longer works');
    assert.throws(() => again.revoke('ben'), /no active login "ben"/);
    const renewed = await again.issue(classLogins(cls, [], 'ben'));
    assert.equal(renewed.length, 1);
    assert.ok(await again.verify('ben', renewed[0]!.password));
    const reissued = await again.issue(classLogins(cls, [], 'ana'), { reissue: true });
    assert.equal(await again.verify('ana', made[0]!.password), undefined, 'reissue: the old password stops working');
    assert.ok(await again.verify('ana', reissued[0]!.password));
  });

  it('a teacher id that is a student is refused; the CSV for an LMS quotes names and formulas', () => {
    assert.throws(() => classLogins(cls, ['ana']), /is a student of class "pair"/);
    const csv = loginsCsv([
      { id: 'ben', role: 'student', name: 'Ben, the second', password: 'aaaa-bbbb-cccc-dddd' },
      { id: 'x', role: 'student', name: '=cmd()', password: 'p' },
    ]);
    assert.equal(csv, 'id,name,role,password\nben,"Ben, the second",student,aaaa-bbbb-cccc-dddd\nx,\'=cmd(),student,p\n');
  });

  it('CSV cells that begin with a tab or a carriage return are kept as text too (formula injection), and a CR is quoted', () => {
    const csv = loginsCsv([
      { id: 't', role: 'student', name: '\t=1+1', password: 'p' },
      { id: 'r', role: 'student', name: '\r=1+1', password: 'p' },
    ]);
    assert.equal(csv, 'id,name,role,password\nt,\'\t=1+1,student,p\nr,"\'\r=1+1",student,p\n');
  });

  it('credentials --csv: written 0600 even over a file that was readable, never through a symbolic link (nothing issued then)', async () => {
    const data = mkdtempSync(join(tmpdir(), 'vmlab-csv-'));
    const out = join(data, 'logins.csv');
    writeFileSync(out, 'old\n', { mode: 0o644 });
    const env = { ...process.env, VMLAB_DATA_DIR: data };
    const classFile = join(root, 'classes', 'pair.yaml');
    const r = await execa('node', [CLI, 'class', 'credentials', classFile, '--csv', out], { reject: false, env });
    assert.equal(r.exitCode, 0, String(r.stderr));
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.match(readFileSync(out, 'utf8'), /^id,name,role,password\nana,/);
    const target = join(data, 'elsewhere.csv');
    const link = join(data, 'link.csv');
    symlinkSync(target, link);
    const l = await execa('node', [CLI, 'class', 'credentials', classFile, '--reissue', '--csv', link], { reject: false, env });
    assert.equal(l.exitCode, 2);
    assert.match(String(l.stderr), /symbolic link/);
    assert.equal(existsSync(target), false);
    const store = new AccountStore(data, 'pair');
    assert.equal(store.list().length, 3, 'the refused reissue made no new password');
  });
});
