import { execa } from 'execa';
import { toolMissing } from './exec.js';
import { whereLibvirtd } from './host-net.js';

/** Does a guest's TCP port answer the host? (readiness of guests vmlab does not provision) */
export interface TcpProbe {
  answers(address: string, port: number, timeoutMs: number): Promise<boolean>;
}

/**
 * `nc -z` where libvirtd runs: the lab's bridges, and the host's address on
 * them, exist only in libvirtd's network namespace (which may not be ours);
 * from anywhere else the connection would follow the default route off the
 * machine.
 */
export const hostTcpProbe: TcpProbe = {
  async answers(address, port, timeoutMs) {
    const [cmd, args] = whereLibvirtd(['nc', '-z', '-w', String(Math.max(1, Math.round(timeoutMs / 1000))), address, String(port)]);
    const r = await execa(cmd, args, { reject: false, timeout: timeoutMs + 5000 });
    // nsenter says 127 when it cannot run nc; execa says ENOENT when nc itself is missing.
    if ((r as { code?: string }).code === 'ENOENT' || r.exitCode === 127) throw toolMissing('nc', r);
    return r.exitCode === 0;
  },
};
