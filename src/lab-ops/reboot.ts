import { parseDomainXml } from './metadata.js';
import { waitReady, type ReadyTimes } from './readiness.js';
import type { LabRuntime } from './runtime.js';
import { startDomain } from './start.js';

/**
 * Powers a guest off and on and waits until it is ready again (agent, then
 * cloud-init done): what a boot costs, for benchmarks and for comparing with
 * a snapshot revert.
 */
export async function rebootUntilReady(rt: LabRuntime, vm: { name: string; domainName: string; accel: { name: string } }, timeoutMs = 15 * 60_000): Promise<ReadyTimes> {
  const h = rt.hypervisor;
  if ((await h.domain(vm.domainName))?.active) await h.destroyDomain(vm.domainName);
  const startedAt = Date.now();
  await startDomain(h, vm.domainName);
  const parsed = await parseDomainXml(await h.domainXml(vm.domainName));
  return waitReady({
    hypervisor: h,
    domain: vm.domainName,
    vmName: vm.name,
    accel: vm.accel.name,
    agent: () => rt.agentFor(vm.domainName, vm.name),
    ...(parsed.consoleLog ? { consoleLog: parsed.consoleLog } : {}),
    timeoutMs,
    startedAt,
  });
}
