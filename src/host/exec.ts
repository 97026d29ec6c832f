import { execa, type Options } from 'execa';
import { VmlabError } from '../errors.js';

/** Which Debian package provides a tool, for "install it with …" hints. */
const PROVIDERS: Record<string, string> = {
  'qemu-img': 'qemu-utils',
  'qemu-system-x86_64': 'qemu-system-x86',
  xorriso: 'xorriso',
  mmdebstrap: 'mmdebstrap',
  sfdisk: 'fdisk',
  'mkfs.fat': 'dosfstools',
  'mkfs.ext4': 'e2fsprogs',
  mcopy: 'mtools',
  mmd: 'mtools',
  syslinux: 'syslinux',
  virsh: 'libvirt-clients',
  ip: 'iproute2',
  dot: 'graphviz',
  'rsvg-convert': 'librsvg2-bin',
  fio: 'fio',
  iperf3: 'iperf3',
  depmod: 'kmod',
  tc: 'iproute2',
  tcpdump: 'tcpdump',
  'systemd-nspawn': 'systemd-container',
  nsenter: 'util-linux',
  nc: 'netcat-openbsd',
  mount: 'mount',
  cp: 'coreutils',
};

export interface RunOptions {
  timeoutMs?: number;
  input?: string | Buffer;
  env?: Record<string, string>;
  cwd?: string;
  /** Called with each line of stdout/stderr, for progress. */
  onLine?: (line: string) => void;
  /** Aborting kills the program (Ctrl-C of a long build). */
  signal?: AbortSignal;
  /** Keep stdout as bytes (an image), in `stdoutBytes`. */
  binary?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  stdoutBytes?: Uint8Array;
}

/** The error for a program that is not installed, naming the Debian package that has it. */
export function toolMissing(cmd: string, cause?: unknown): VmlabError {
  const pkg = PROVIDERS[cmd];
  return new VmlabError('ERR_VMLAB_TOOL_MISSING', `${cmd} is not installed`, {
    hint: pkg ? `install it: apt-get install ${pkg}` : 'install it with your package manager (vmlab doctor lists what vmlab uses)',
    ...(cause ? { cause } : {}),
  });
}

/**
 * Runs an external program with an argument array (never a shell string).
 * Failures become VmlabError with the command, exit code and the last lines of stderr.
 */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const options: Options = {
    reject: false,
    timeout: opts.timeoutMs,
    input: opts.input,
    env: opts.env,
    cwd: opts.cwd,
    ...(opts.signal ? { cancelSignal: opts.signal } : {}),
    stripFinalNewline: true,
    encoding: opts.binary ? 'buffer' : 'utf8',
    ...(opts.onLine
      ? {
          stdout: [
            function* (line: unknown) {
              opts.onLine!(String(line));
              yield line;
            },
          ],
          stderr: [
            function* (line: unknown) {
              opts.onLine!(String(line));
              yield line;
            },
          ],
        }
      : {}),
  };
  const r = await execa(cmd, args as string[], options);
  const bytes = opts.binary ? (r.stdout as unknown as Uint8Array) : undefined;
  const stdout = bytes ? '' : String(r.stdout ?? '');
  const stderr = opts.binary ? Buffer.from((r.stderr as unknown as Uint8Array) ?? []).toString('utf8') : String(r.stderr ?? '');
  if ((r as { code?: string }).code === 'ENOENT' || (/ENOENT/.test(String(r.message ?? '')) && r.exitCode === undefined)) {
    throw toolMissing(cmd, r);
  }
  if (r.isCanceled) {
    throw new VmlabError('ERR_VMLAB_INTERRUPTED', `${cmd} was interrupted`, { cause: r });
  }
  if (r.timedOut) {
    throw new VmlabError('ERR_VMLAB_EXEC_TIMEOUT', `${cmd} did not finish within ${Math.round((opts.timeoutMs ?? 0) / 1000)} s`, { cause: r });
  }
  if (r.exitCode !== 0) {
    const tail = stderr.trim().split('\n').slice(-8).join('\n    ');
    throw new VmlabError('ERR_VMLAB_EXEC', `${cmd} ${args.slice(0, 4).join(' ')}${args.length > 4 ? ' …' : ''} failed (exit ${r.exitCode ?? r.signal})${tail ? `:\n    ${tail}` : ''}`, {
      cause: r,
      details: { command: cmd, args: [...args], exitCode: r.exitCode },
    });
  }
  return { stdout, stderr, ...(bytes ? { stdoutBytes: bytes } : {}) };
}
