/**
 * Runs one program (argument array, no shell) somewhere: on the host, in a
 * network namespace, or in a guest through its agent. Measurements and
 * probes need nothing more.
 */
export interface CommandRunner {
  run(argv: string[], timeoutMs: number): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}
