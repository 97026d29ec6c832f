import { run } from './exec.js';

/** SVG → PNG with librsvg's rsvg-convert (Debian package librsvg2-bin), for slides. */
export async function svgToPng(svg: string, zoom = 1.5): Promise<Uint8Array> {
  const r = await run('rsvg-convert', ['--format', 'png', '--zoom', String(zoom), '--background-color', 'white'], { input: svg, binary: true, timeoutMs: 60_000 });
  return r.stdoutBytes ?? new Uint8Array();
}
