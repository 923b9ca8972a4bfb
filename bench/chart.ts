/**
 * The benchmark's picture (issue 11, goal 6): one hand-written SVG, no charting dependency.
 *  - left: warm latency distributions as cumulative curves (share of calls ≤ x ms, x on a log scale): the
 *    in-process warm run at a full core, and the Lambda sandbox's warm run at the 512 MB share;
 *  - right: cold init (the RIE's INIT REPORT) per memory size and variant: median bars, each sample a dot.
 */
import type { LambdaBenchResult } from './lambda-bench.ts';
import { median } from './stats.ts';

export interface ChartInput {
  readonly environment: { startedAt: string; cpu: string; cpus: number; emulator: { kind: string } };
  readonly warm: ReadonlyArray<{ label: string; latenciesMs: readonly number[] }>;
  readonly lambda: LambdaBenchResult | undefined;
}

const W = 1100;
const H = 560;
const COLORS: Record<string, string> = { naive: '#7f7f7f', powertools: '#1f77b4', gateway: '#d62728', kms: '#2ca02c', other: '#9467bd' };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const f1 = (n: number): string => (Math.round(n * 10) / 10).toString();

function colorOf(label: string): string {
  const l = label.toLowerCase();
  if (l.includes('naive')) return COLORS['naive']!;
  if (l.includes('powertools')) return COLORS['powertools']!;
  if (l.includes('kms')) return COLORS['kms']!;
  if (l.includes('ours') || l.includes('gateway') || l.includes('createsession')) return COLORS['gateway']!;
  return COLORS['other']!;
}

interface Series {
  readonly label: string;
  readonly values: readonly number[];
  readonly dashed: boolean;
}

function cdfPanel(x0: number, y0: number, w: number, h: number, series: readonly Series[]): string {
  const out: string[] = [];
  const all = series.flatMap((s) => s.values).filter((v) => v > 0 && Number.isFinite(v));
  if (all.length === 0) return '';
  const lo = Math.max(0.1, Math.min(...all));
  const hi = Math.max(...all);
  const lmin = Math.floor(Math.log10(lo));
  const lmax = Math.ceil(Math.log10(hi));
  const X = (v: number): number => x0 + ((Math.log10(Math.max(v, 10 ** lmin)) - lmin) / (lmax - lmin)) * w;
  const Y = (q: number): number => y0 + h - q * h;
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#ccc"/>`);
  for (let e = lmin; e <= lmax; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v < 10 ** lmin || v > 10 ** lmax) continue;
      const x = f1(X(v));
      out.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + h}" stroke="#eee"/>`);
      out.push(`<text x="${x}" y="${y0 + h + 14}" font-size="10" text-anchor="middle">${v >= 1 ? v : v.toFixed(1)}</text>`);
    }
  }
  for (const q of [0, 0.5, 0.99]) {
    const y = f1(Y(q));
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + w}" y2="${y}" stroke="${q === 0.5 || q === 0.99 ? '#ddd' : '#eee'}"/>`);
    out.push(`<text x="${x0 - 4}" y="${y}" font-size="10" text-anchor="end" dominant-baseline="middle">${q === 0.99 ? 'p99' : q === 0.5 ? 'p50' : `${q * 100}%`}</text>`);
  }
  out.push(`<text x="${x0 + w / 2}" y="${y0 + h + 28}" font-size="11" text-anchor="middle">latency per warm call (ms, log scale); curve = share of calls at or below</text>`);
  series.forEach((s, i) => {
    const sorted = [...s.values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
    if (sorted.length === 0) return;
    const pts: string[] = [];
    sorted.forEach((v, k) => {
      pts.push(`${f1(X(v))},${f1(Y(k / sorted.length))}`);
      pts.push(`${f1(X(v))},${f1(Y((k + 1) / sorted.length))}`);
    });
    const color = colorOf(s.label);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5,3"' : ''} points="${pts.join(' ')}"/>`);
    const ly = y0 + h + 46 + i * 14;
    out.push(`<line x1="${x0 + 8}" y1="${ly}" x2="${x0 + 30}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    out.push(
      `<text x="${x0 + 34}" y="${ly}" font-size="10" dominant-baseline="middle">${esc(s.label)} (p50 ${f1(median(sorted))} ms, n=${sorted.length})</text>`,
    );
  });
  return out.join('\n');
}

function initPanel(x0: number, y0: number, w: number, h: number, lambda: LambdaBenchResult): string {
  const out: string[] = [];
  const groups = Object.entries(lambda.init).map(([memory, perFn]) => ({ memory, perFn }));
  const all = groups.flatMap((g) => Object.values(g.perFn).flatMap((s) => s.map((x) => x.initMs))).filter(Number.isFinite);
  if (all.length === 0) return '';
  const top = Math.max(...all) * 1.1;
  const Y = (v: number): number => y0 + h - (v / top) * h;
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#ccc"/>`);
  const step = top > 2000 ? 500 : top > 1000 ? 200 : 100;
  for (let v = 0; v <= top; v += step) {
    const y = f1(Y(v));
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + w}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${x0 - 4}" y="${y}" font-size="10" text-anchor="end" dominant-baseline="middle">${v}</text>`);
  }
  out.push(`<text x="${x0 - 36}" y="${y0 + h / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 ${x0 - 36} ${y0 + h / 2})">init (ms, INIT REPORT)</text>`);
  const slots = groups.reduce((n, g) => n + Object.keys(g.perFn).length + 1, 0);
  const bw = w / Math.max(slots, 1);
  let slot = 0.5;
  for (const g of groups) {
    const names = Object.keys(g.perFn);
    const gx = x0 + slot * bw;
    for (const name of names) {
      const samples = g.perFn[name]!.map((x) => x.initMs).filter(Number.isFinite);
      const m = median(samples);
      const x = x0 + slot * bw;
      const color = colorOf(name === 'createSession' || !['naive', 'powertools'].includes(name) ? 'gateway' : name);
      const opacity = name === 'createSession' || name === 'naive' || name === 'powertools' ? 0.6 : 0.3;
      if (Number.isFinite(m)) {
        out.push(`<rect x="${f1(x + 2)}" y="${f1(Y(m))}" width="${f1(bw - 4)}" height="${f1(y0 + h - Y(m))}" fill="${color}" fill-opacity="${opacity}"/>`);
        out.push(`<text x="${f1(x + bw / 2)}" y="${f1(Y(m) - 3)}" font-size="9" text-anchor="middle">${Math.round(m)}</text>`);
      }
      for (const v of samples) out.push(`<circle cx="${f1(x + bw / 2)}" cy="${f1(Y(v))}" r="2" fill="${color}"/>`);
      out.push(
        `<text x="${f1(x + bw / 2)}" y="${y0 + h + 10}" font-size="8" text-anchor="end" transform="rotate(-40 ${f1(x + bw / 2)} ${y0 + h + 10})">${esc(name === 'createSession' ? 'gateway' : name)}</text>`,
      );
      slot += 1;
    }
    out.push(`<text x="${f1(gx + (names.length * bw) / 2)}" y="${y0 + 14}" font-size="11" text-anchor="middle" font-weight="bold">${esc(g.memory)} MB</text>`);
    slot += 1;
  }
  return out.join('\n');
}

export function renderChart(input: ChartInput): string {
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  const env = input.environment;
  parts.push(
    `<text x="16" y="20" font-size="13" font-weight="bold">didit-kms-gateway bench, ${esc(env.startedAt)}: ${esc(env.cpu)} ×${env.cpus}, emulator ${esc(env.emulator.kind)}</text>`,
  );
  const series: Series[] = input.warm.map((s) => ({ label: `${s.label}, full core`, values: s.latenciesMs, dashed: true }));
  const w512 = input.lambda?.warm512;
  if (w512) {
    const names: Record<string, string> = { naive: 'naive', createSession: 'gateway createSession', kmsDecrypt: 'KMS Decrypt alone' };
    for (const [name, values] of Object.entries(w512.durationsMs)) series.push({ label: `${names[name] ?? name}, 512 MB share`, values, dashed: false });
  }
  parts.push(`<text x="60" y="46" font-size="12">Warm latency (dashed: in-process, full core; solid: sandbox, 512 MB share)</text>`);
  parts.push(cdfPanel(60, 56, 500, 360, series));
  if (input.lambda) {
    parts.push(`<text x="640" y="46" font-size="12">Cold init per memory size (bar: median; dots: samples)</text>`);
    parts.push(initPanel(640, 56, 440, 360, input.lambda));
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
