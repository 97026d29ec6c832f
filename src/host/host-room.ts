import { existsSync, mkdirSync, readFileSync, statfsSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** What this host can give a class now: memory the kernel can hand out, free disk under the data directory, cores. */
export function memAvailableBytes(meminfo = readFileSync('/proc/meminfo', 'utf8')): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(meminfo);
  if (!m) throw new Error('/proc/meminfo has no MemAvailable line');
  return Number(m[1]) * 1024;
}

export function diskFreeBytes(dir: string): number {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

export function cores(): number {
  return availableParallelism();
}

/**
 * Resident memory of a running domain's QEMU process, as the host pays for
 * it (guest RAM the guest touched, plus QEMU's own): from libvirt's pid file.
 * Undefined when the pid file or process cannot be read.
 */
export function qemuRssBytes(domain: string, runDir = '/run/libvirt/qemu'): number | undefined {
  try {
    const pid = readFileSync(`${runDir}/${domain}.pid`, 'utf8').trim();
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
