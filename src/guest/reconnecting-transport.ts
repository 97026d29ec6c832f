import type { AgentTransport } from './agent.js';

const RETRY_MS = 50;

/**
 * An agent channel that libvirt is connecting again: after a `loadvm` it
 * drops its connection to the guest's agent and makes a new one (measured
 * under TCG: 0.4–0.8 s, "QEMU guest agent is not connected" meanwhile).
 * Until `until` (epoch ms), a command that finds the agent not connected is
 * sent again instead of failing; any other error, and every error after
 * `until`, is the inner transport's.
 */
export class ReconnectingTransport implements AgentTransport {
  constructor(
    private readonly inner: AgentTransport,
    private readonly until: number,
    private readonly now: () => number = Date.now,
  ) {}

  async command<T = unknown>(execute: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T> {
    for (;;) {
      try {
        return await this.inner.command<T>(execute, args, timeoutMs);
      } catch (e) {
        if (!/not connected/i.test((e as Error).message) || this.now() + RETRY_MS >= this.until) throw e;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  close(): void {
    this.inner.close();
  }
}
