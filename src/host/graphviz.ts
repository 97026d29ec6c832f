import { run } from './exec.js';

export type GraphFormat = 'svg' | 'png';

/** Lays out DOT with Graphviz's `dot` (Debian package graphviz). */
export async function layoutDot(dot: string, format: GraphFormat): Promise<Uint8Array> {
  const r = await run('dot', [`-T${format}`], { input: dot, binary: true, timeoutMs: 60_000 });
  return r.stdoutBytes ?? new Uint8Array();
}
