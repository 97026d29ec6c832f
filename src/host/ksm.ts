import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Kernel samepage merging (KSM): ksmd merges identical pages of memory marked mergeable, and QEMU
 * marks every guest's RAM so. Copies of a class forked from one guest (lab-ops/fork.ts) start with
 * the same memory, so most of it merges. vmlab turns ksmd on when it forks a class, where it may
 * (/sys/kernel/mm/ksm/run writable), and leaves the kernel's scan rate as it is.
 */
export interface KsmState {
  /** The kernel has KSM. */
  available: boolean;
  /** ksmd is merging (run = 1). */
  running: boolean;
  /** This process may turn it on. */
  writable: boolean;
  /** Pages merged away (pages_sharing): what KSM saves, in 4 KiB pages. */
  pagesSharing: number;
}

export interface Ksm {
  state(): KsmState;
  /** Turns ksmd on if it is off and may be turned on; says what it did. */
  ensureOn(): 'already on' | 'turned on' | 'not available' | 'not allowed';
}

export function hostKsm(dir = '/sys/kernel/mm/ksm'): Ksm {
  const read = (f: string) => readFileSync(join(dir, f), 'utf8').trim();
  const state = (): KsmState => {
    if (!existsSync(join(dir, 'run'))) return { available: false, running: false, writable: false, pagesSharing: 0 };
    let writable = true;
    try {
      accessSync(join(dir, 'run'), constants.W_OK);
    } catch {
      writable = false;
    }
    return { available: true, running: read('run') === '1', writable, pagesSharing: Number(read('pages_sharing')) || 0 };
  };
  return {
    state,
    ensureOn() {
      const s = state();
      if (!s.available) return 'not available';
      if (s.running) return 'already on';
      try {
        writeFileSync(join(dir, 'run'), '1');
        return 'turned on';
      } catch {
        return 'not allowed';
      }
    },
  };
}
