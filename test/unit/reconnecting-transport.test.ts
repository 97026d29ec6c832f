import assert from 'node:assert/strict';
import type { AgentTransport } from '../../src/guest/agent.js';
import { ReconnectingTransport } from '../../src/guest/reconnecting-transport.js';
import { noteResumed, reconnectDeadline, RECONNECT_GRACE_MS } from '../../src/lab-ops/resumed.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Answers after `failures` "not connected" errors, or always fails with `other`. */
function flaky(failures: number, other?: string): AgentTransport & { calls: number } {
  return {
    calls: 0,
    async command<T>(): Promise<T> {
      this.calls++;
      if (other) throw new Error(other);
      if (this.calls <= failures) throw new Error('guest agent of r1: Guest agent is not responding: QEMU guest agent is not connected');
      return {} as T;
    },
    close() {},
  };
}

describe('a guest agent reconnecting after a loadvm (libvirt drops and remakes its connection)', () => {
  it('within the grace a command that finds the agent not connected is sent again until it answers', async () => {
    const inner = flaky(3);
    await new ReconnectingTransport(inner, Date.now() + 5000).command('guest-ping');
    assert.equal(inner.calls, 4);
  });

  it('past the grace, or for any other error, the error is the inner one at once', async () => {
    const late = flaky(100);
    await assert.rejects(new ReconnectingTransport(late, Date.now() + 200).command('guest-ping'), /not connected/);
    assert.ok(late.calls > 1 && late.calls < 10, `retried for 0.2 s only (${late.calls} calls)`);
    const other = flaky(0, 'guest agent of r1: Guest agent is not responding: Guest agent not available for now');
    await assert.rejects(new ReconnectingTransport(other, Date.now() + 5000).command('guest-exec'), /not available/);
    assert.equal(other.calls, 1);
  });

  it('a VM resumed is noted for the grace, then no longer', () => {
    const run = mkdtempSync(join(tmpdir(), 'vmlab-resumed-'));
    const t = 1_000_000;
    noteResumed(run, ['vmlab-x-a'], t);
    assert.equal(reconnectDeadline(run, 'vmlab-x-a', t + 1), t + RECONNECT_GRACE_MS);
    assert.equal(reconnectDeadline(run, 'vmlab-x-a', t + RECONNECT_GRACE_MS + 1), undefined);
    assert.equal(reconnectDeadline(run, 'vmlab-x-b', t), undefined);
  });
});
