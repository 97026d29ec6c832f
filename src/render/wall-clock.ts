import type { VmPlan } from '../plan/plan.js';
import type { CloudConfigFragment } from './services.js';

/**
 * A guest's wall clock after a snapshot revert. Its clocks go back with the
 * snapshot (profiles/accel.ts: so its timers are where they were), the wall
 * clock (CLOCK_REALTIME) with them, to the time the snapshot was taken. The
 * emulated RTC follows the host's clock instead (QEMU keeps it on the host's
 * time across a loadvm: measured), so the guest follows the RTC: a loop of
 * bash builtins (no process per second; `read -t` on a pipe of its own as the
 * sleep) steps the wall clock to the RTC when it is more than 2 s behind it,
 * about a second after a revert, and says so in the journal. Nothing is
 * changed when the wall clock is ahead (a student who sets the date forward
 * keeps it). Setting it from the host instead (`date -s` through the agent)
 * cost 1–1.5 s of every reset under TCG: the agent reconnects after a loadvm
 * and the process starts cold.
 */
export const WALL_CLOCK_SCRIPT = '/usr/local/sbin/vmlab-wallclock';
const UNIT = 'vmlab-wallclock.service';

const script = `#!/bin/bash
# Written by vmlab: after a snapshot revert the wall clock has the snapshot's
# time; the RTC has the host's. Steps the wall clock to the RTC when behind it.
rtc=/sys/class/rtc/rtc0/since_epoch
if [ ! -r "$rtc" ]; then echo "vmlab-wallclock: no $rtc, nothing to follow"; exit 0; fi
exec 3<> <(:)
while :; do
  hw=
  read -r hw < "$rtc" || :
  printf -v now '%(%s)T' -1
  if [ -n "$hw" ] && [ $((hw - now)) -gt 2 ]; then
    date -u -s "@$hw" > /dev/null && echo "vmlab-wallclock: the wall clock was $((hw - now)) s behind the RTC (a snapshot revert?): set from the RTC"
  fi
  read -r -t 1 -u 3 || :
done
`;

const unit = `[Unit]
Description=vmlab: the wall clock follows the RTC after a snapshot revert
[Service]
ExecStart=${WALL_CLOCK_SCRIPT}
Restart=always
[Install]
WantedBy=multi-user.target
`;

/** For VMs (a container has the host's clock and may not set it). */
export function wallClockFragment(vm: VmPlan): CloudConfigFragment {
  if (vm.accel.name === 'native') return {};
  return {
    write_files: [
      { path: WALL_CLOCK_SCRIPT, permissions: '0755', content: script },
      { path: `/etc/systemd/system/${UNIT}`, permissions: '0644', content: unit },
    ],
    runcmd: [['systemctl', 'enable', '--now', UNIT]],
  };
}
