import { execa } from 'execa';

/**
 * Can KVM really run a stock guest here? Runs SeaBIOS (a stock guest) under
 * `-accel kvm -cpu host` for a few seconds with no disk. On working KVM it is
 * still running when the timer ends; on PVM-nested KVM QEMU dies at once
 * ("failed to set MSR", "emulation failure").
 */
export async function kvmRunsStockGuest(seconds = 3): Promise<{ ok: boolean; detail: string }> {
  const r = await execa(
    'timeout',
    [String(seconds), 'qemu-system-x86_64', '-accel', 'kvm', '-cpu', 'host', '-machine', 'q35', '-m', '64', '-nodefaults', '-display', 'none', '-serial', 'none', '-monitor', 'none', '-no-reboot'],
    { reject: false },
  );
  if (r.exitCode === 124) return { ok: true, detail: `SeaBIOS ran ${seconds} s under KVM` };
  const line =
    String(r.stderr)
      .split('\n')
      .find((l) => l.trim()) ?? `qemu exited with ${r.exitCode}`;
  return { ok: false, detail: line.replace(/^qemu-system-x86_64: /, '').trim() };
}
