import { execa } from 'execa';
import { VmlabError } from '../errors.js';
import type { AgentTransport } from './agent.js';

/**
 * qemu-ga on the virtio-serial channel. libvirt owns that channel and
 * libvirt-dbus has no agent call, so commands go through
 * `virsh qemu-agent-command` (argument array, no shell).
 */
export class VirshTransport implements AgentTransport {
  constructor(
    readonly uri: string,
    readonly domain: string,
    readonly vmName: string,
  ) {}

  async command<T = unknown>(execute: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
    const payload = JSON.stringify({ execute, ...(args ? { arguments: args } : {}) });
    const r = await execa('virsh', ['-c', this.uri, 'qemu-agent-command', this.domain, payload, '--timeout', String(Math.max(1, Math.ceil(timeoutMs / 1000)))], {
      reject: false,
      timeout: timeoutMs + 5000,
    });
    if (r.exitCode !== 0) {
      const msg = String(r.stderr)
        .replace(/^error:\s*/gm, '')
        .trim()
        .split('\n')
        .join('; ');
      const notReady = /not connected|not responding|not running|timed out|Timeout/i.test(msg);
      throw new VmlabError(notReady ? 'ERR_VMLAB_AGENT_TIMEOUT' : 'ERR_VMLAB_AGENT_COMMAND', `guest agent of ${this.vmName}: ${msg || `virsh exit ${r.exitCode}`}`, {
        hint: notReady ? 'the guest may still be booting' : undefined,
      });
    }
    return (JSON.parse(String(r.stdout)) as { return: T }).return;
  }

  close(): void {}
}
