import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import YAML from 'yaml';
import { WALL_CLOCK_SCRIPT } from '../../src/render/wall-clock.js';
import { renderExample } from '../helpers/render.js';

/** The follower as the guest gets it, from a rendered user-data. */
function followerScript(): string {
  const ud = YAML.parse(renderExample('labs/quickstart.yaml', 'tcg').vms.find((v) => v.name === 'para')!.files['user-data']!) as { write_files: Array<{ path: string; content: string }> };
  return ud.write_files.find((f) => f.path === WALL_CLOCK_SCRIPT)!.content;
}

/**
 * Runs the follower for `ms` against a fake RTC file holding `rtcOffsetS` from
 * now, with a fake `date` that records how it was called; returns the calls
 * and what the follower printed (the journal).
 */
async function follow(rtcOffsetS: number, ms = 1500): Promise<{ dateCalls: string[]; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'vmlab-wallclock-'));
  try {
    const rtc = join(dir, 'since_epoch');
    writeFileSync(rtc, `${Math.floor(Date.now() / 1000) + rtcOffsetS}\n`);
    // The fake `date` cannot set the clock: it puts the RTC back on the wall clock instead, which is what setting achieves.
    writeFileSync(join(dir, 'date'), `#!/bin/sh\necho "$*" >> ${dir}/calls\n/bin/date +%s > ${rtc}\n`);
    chmodSync(join(dir, 'date'), 0o755);
    const script = join(dir, 'follower');
    writeFileSync(script, followerScript().replace('/sys/class/rtc/rtc0/since_epoch', rtc));
    const p = execa('bash', [script], { env: { PATH: `${dir}:/usr/bin:/bin` }, reject: false });
    await new Promise((r) => setTimeout(r, ms));
    p.kill('SIGTERM');
    const r = await p;
    return { dateCalls: existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n') : [], out: String(r.stdout) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("a guest's wall clock follows the RTC after a revert", () => {
  it('every VM gets the follower, enabled at first boot; a container does not (it has the host clock)', () => {
    for (const v of renderExample('labs/quickstart.yaml', 'tcg').vms) {
      const ud = YAML.parse(v.files['user-data']!) as { runcmd: unknown[]; write_files: Array<{ path: string }> };
      assert.deepEqual(ud.runcmd[1], ['systemctl', 'enable', '--now', 'vmlab-wallclock.service'], v.name);
      assert.ok(
        ud.write_files.some((f) => f.path === '/etc/systemd/system/vmlab-wallclock.service'),
        v.name,
      );
    }
    const mixed = renderExample('labs/linux-network-mixed.yaml', 'tcg');
    for (const v of mixed.vms.filter((x) => x.files['domain.xml']?.includes("type='lxc'"))) assert.doesNotMatch(v.files['user-data'] ?? '', /wallclock/, v.name);
  });

  it('a wall clock 100 s behind the RTC is set from it, once, and the journal is told', async () => {
    const r = await follow(100);
    assert.equal(r.dateCalls.length, 1, `date calls: ${r.dateCalls.join(' | ')}`);
    assert.match(r.dateCalls[0]!, /^-u -s @\d{10}$/);
    assert.match(r.out, /wall clock was 10\d s behind the RTC/);
  });

  it('a wall clock on time, or ahead of the RTC, is left alone', async () => {
    assert.deepEqual((await follow(0)).dateCalls, []);
    assert.deepEqual((await follow(-100)).dateCalls, []);
  });
});
