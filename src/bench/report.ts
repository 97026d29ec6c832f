import { METRICS, type BenchResults, type ConfigResult, type Metric } from './results.js';
import { deviceProfiles } from '../profiles/index.js';
import { describeLimitError, hostLimitErrors } from './limits.js';
import type { Summary } from './stats.js';

/**
 * results.json → a Markdown table and an SVG chart. Pure and deterministic,
 * so both are tested against golden files.
 */
function fmtValue(v: number, m: Metric): string {
  if (m.unit === 'IOPS') return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
  if (m.unit === 'Gbit/s') return v >= 10 ? v.toFixed(1) : v >= 0.1 ? v.toFixed(2) : v.toFixed(3);
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function cell(s: Summary | undefined, m: Metric): string {
  if (!s) return '–';
  return s.n > 1 ? `${fmtValue(s.median, m)} (${fmtValue(s.min, m)}–${fmtValue(s.max, m)})` : fmtValue(s.median, m);
}

/** How many times better `a` is than `b` (> 1: a is better), for this metric's direction. */
export function advantage(a: Summary | undefined, b: Summary | undefined, m: Metric): number | undefined {
  if (!a || !b || a.median <= 0 || b.median <= 0) return undefined;
  return m.higherIsBetter ? a.median / b.median : b.median / a.median;
}

const byName = (r: BenchResults, name: string) => r.configs.find((c) => c.name === name);

interface Ratio {
  title: string;
  values: (m: Metric) => string;
}

function ratios(r: BenchResults): Ratio[] {
  const limitErrors = hostLimitErrors(r);
  const out: Ratio[] = [];
  const x = (v: number | undefined) => (v === undefined ? '–' : `${v.toFixed(v >= 10 ? 0 : 1)}×`);
  for (const accel of ['tcg', 'kvm'] as const) {
    const v = byName(r, `${accel}-virtio`);
    const e = byName(r, `${accel}-emulated`);
    if (v && e) out.push({ title: `virtio vs emulated (${accel})`, values: (m) => x(advantage(v.metrics[m.key], e.metrics[m.key], m)) });
  }
  const kv = byName(r, 'kvm-virtio');
  const tv = byName(r, 'tcg-virtio');
  if (kv && tv) out.push({ title: 'kvm vs tcg (virtio)', values: (m) => (m.io && m.key !== 'tcp' ? '' : x(advantage(kv.metrics[m.key], tv.metrics[m.key], m))) });
  const host = byName(r, 'host');
  for (const name of ['kvm-virtio', 'tcg-virtio']) {
    const v = byName(r, name);
    if (!v || !host) continue;
    out.push({
      title: `${name} % of host`,
      values: (m) => {
        if (limitErrors.some((e) => e.config === name && e.metric === m.key)) return '**beyond the host: measurement error**';
        const a = advantage(v.metrics[m.key], host.metrics[m.key], m);
        return a === undefined ? '–' : `${Math.round(a * 100)}%`;
      },
    });
    break;
  }
  return out;
}

export function renderTable(r: BenchResults): string {
  const cols = r.configs;
  const rs = ratios(r);
  const head = ['metric', ...cols.map((c) => `\`${c.name}\``), ...rs.map((x) => x.title)];
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...METRICS.filter((m) => cols.some((c) => c.metrics[m.key])).map((m) =>
      `| ${m.label} (${m.unit}, ${m.higherIsBetter ? 'higher' : 'lower'} is better) | ${cols.map((c) => cell(c.metrics[m.key], m)).join(' | ')} | ${rs.map((x) => x.values(m)).join(' | ')}${rs.length ? ' |' : ''}`.replace(
        /\|\s*\|$/,
        '|',
      ),
    ),
  ];
  const notes = [
    '',
    `Medians of ${r.reps} run(s), (min–max) where more than one; ${r.quick ? '**quick mode** (1 run, short measurements); ' : ''}measured ${r.createdAt} on ${r.host.cores} cores, Linux ${r.host.kernel}${r.host.qemu ? `, QEMU ${r.host.qemu}` : ''}${r.host.libvirt ? `, libvirt ${r.host.libvirt}` : ''}.`,
    `${r.host.accelNote}`,
    '',
    ...r.configs.map((c) => `- \`${c.name}\`: ${c.description}`),
    ...r.refused.map((x) => `- \`${x.name}\`: not run here — ${x.reason}`),
    ...(r.failed ?? []).map((x) => `- \`${x.name}\`: **failed** — ${x.error}`),
    ...hostLimitErrors(r).map((e) => `- **measurement error**: ${describeLimitError(e)}`),
    '',
  ];
  return lines.join('\n') + '\n' + notes.join('\n');
}

export function renderMarkdown(r: BenchResults): string {
  return `# vmlab bench: hardware emulation vs paravirtualization vs containers vs the host\n\n${renderTable(r)}`;
}

// --- SVG chart: one panel per metric, one bar per configuration ---------------

const COLORS: Record<string, string> = { emulated: '#e8833a', virtio: '#3b7dd8', container: '#3aa655', host: '#7a7a7a', ablation: '#8fb4ea' };

function colorOf(c: ConfigResult): string {
  if (c.kind === 'host') return COLORS.host!;
  if (c.kind === 'ablation') return COLORS.ablation!;
  if (c.kind === 'container') return COLORS.container!;
  return c.profile && deviceProfiles[c.profile]?.family === 'emulated' ? COLORS.emulated! : COLORS.virtio!;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(' ')) {
    if (cur && cur.length + 1 + word.length > width) {
      lines.push(cur);
      cur = '  ' + word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) lines.push(cur);
  return lines;
}

export function renderChart(r: BenchResults): string {
  const W = 900;
  const labelW = 190;
  const barH = 16;
  const gap = 4;
  const panelPad = 34;
  const metrics = METRICS.filter((m) => r.configs.some((c) => c.metrics[m.key]));
  const out: string[] = [];
  let y = 40;
  for (const m of metrics) {
    const rows = r.configs.filter((c) => c.metrics[m.key]);
    const max = Math.max(...rows.map((c) => c.metrics[m.key]!.max));
    out.push(`<text x="10" y="${y}" class="metric">${esc(m.label)} — ${esc(m.unit)}, ${m.higherIsBetter ? 'longer is better' : 'shorter is better'}</text>`);
    y += 10;
    for (const c of rows) {
      const s = c.metrics[m.key]!;
      const scale = (v: number) => (max > 0 ? (v / max) * (W - labelW - 110) : 0);
      out.push(`<text x="${labelW - 8}" y="${y + barH - 4}" class="label" text-anchor="end">${esc(c.name)}</text>`);
      out.push(`<rect x="${labelW}" y="${y}" width="${scale(s.median).toFixed(1)}" height="${barH}" fill="${colorOf(c)}"/>`);
      if (s.n > 1) out.push(`<line x1="${(labelW + scale(s.min)).toFixed(1)}" x2="${(labelW + scale(s.max)).toFixed(1)}" y1="${y + barH / 2}" y2="${y + barH / 2}" class="range"/>`);
      out.push(`<text x="${(labelW + scale(Math.max(s.median, s.max)) + 6).toFixed(1)}" y="${y + barH - 4}" class="value">${esc(fmtValue(s.median, m))}</text>`);
      y += barH + gap;
    }
    y += panelPad - gap;
  }
  const caption = [
    ...r.configs.map((c) => `${c.name}: ${c.description}`),
    ...r.refused.map((x) => `${x.name}: not run here (${x.reason})`),
    `Medians of ${r.reps} run(s); thin lines span min–max. ${r.host.accelNote}`,
  ];
  for (const line of caption.flatMap((l) => wrap(l, 140))) {
    out.push(`<text x="10" y="${y}" class="caption">${esc(line)}</text>`);
    y += 16;
  }
  const H = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`,
    '<style>.title{font-size:16px;font-weight:bold}.metric{font-size:13px;font-weight:bold}.label,.value{font-size:12px}.caption{font-size:11px;fill:#444}.range{stroke:#222;stroke-width:1.2}</style>',
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="10" y="22" class="title">vmlab bench: hardware emulation vs paravirtualization vs containers vs the host${r.quick ? ' (quick)' : ''}</text>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
