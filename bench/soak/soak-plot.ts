/**
 * The run as an SVG, written as text: requests/s, p99 latency and non-2xx
 * answers per second over time, three panels sharing the time axis, with a
 * band for each injected event (dark while the failure is injected, light
 * for its recovery).
 */
import type { Timeline } from './timeline.js';

const W = 1000;
const PANEL_H = 150;
const LEFT = 60;
const RIGHT = 20;
const TOP = 48;
const GAP = 30;
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

interface Series {
  title: string;
  values: number[];
  color: string;
  bars?: boolean;
}

export function soakSvg(timeline: Timeline, title: string): string {
  // The last second is cut short by the end of the run: leave it out.
  const secs = timeline.seconds.slice(0, -1);
  const n = Math.max(1, secs.length);
  const x = (t: number) => LEFT + (t / n) * (W - LEFT - RIGHT);
  const series: Series[] = [
    { title: 'requests/s', values: secs.map((s) => s.requests), color: '#4e79a7' },
    { title: 'p99 latency (ms)', values: secs.map((s) => (s.latency.total ? s.latency.quantile(0.99) : 0)), color: '#f28e2b' },
    {
      title: 'non-2xx or no answer per second',
      values: secs.map((s) => [...s.statuses].filter(([status]) => !status.startsWith('2')).reduce((a, [, c]) => a + c, 0)),
      color: '#e15759',
      bars: true,
    },
  ];
  const height = TOP + series.length * (PANEL_H + GAP) + 20;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${height}" fill="white"/>`,
    `<text x="${LEFT}" y="18" font-size="13" font-weight="bold">${esc(title)}</text>`,
  ];
  series.forEach((s, panel) => {
    const top = TOP + panel * (PANEL_H + GAP);
    const max = Math.max(1, ...s.values);
    const y = (v: number) => top + PANEL_H - (v / max) * PANEL_H;
    timeline.events.forEach((e, i) => {
      const start = (e.start - timeline.started) / 1000;
      const actionEnd = ((e.actionEnd ?? e.start) - timeline.started) / 1000;
      const next = timeline.events[i + 1];
      const end = next ? (next.start - timeline.started) / 1000 : n;
      const color = COLORS[i % COLORS.length]!;
      out.push(`<rect x="${x(start).toFixed(1)}" y="${top}" width="${Math.max(1, x(end) - x(start)).toFixed(1)}" height="${PANEL_H}" fill="${color}" opacity="0.08"/>`);
      out.push(`<rect x="${x(start).toFixed(1)}" y="${top}" width="${Math.max(1, x(actionEnd) - x(start)).toFixed(1)}" height="${PANEL_H}" fill="${color}" opacity="0.3"/>`);
      if (panel === 0) out.push(`<text x="${(x(start) + 2).toFixed(1)}" y="${top + 10 + (i % 3) * 11}" fill="${color}">${esc(e.name)}</text>`);
    });
    out.push(`<rect x="${LEFT}" y="${top}" width="${W - LEFT - RIGHT}" height="${PANEL_H}" fill="none" stroke="#999"/>`);
    out.push(`<text x="${LEFT}" y="${top - 4}" font-weight="bold">${esc(s.title)}</text>`);
    out.push(`<text x="${LEFT - 4}" y="${top + 10}" text-anchor="end">${fmt(max)}</text>`);
    out.push(`<text x="${LEFT - 4}" y="${top + PANEL_H}" text-anchor="end">0</text>`);
    if (s.bars) {
      const bw = Math.max(1, (W - LEFT - RIGHT) / n);
      s.values.forEach((v, t) => {
        if (v > 0) out.push(`<rect x="${x(t).toFixed(1)}" y="${y(v).toFixed(1)}" width="${bw.toFixed(1)}" height="${(top + PANEL_H - y(v)).toFixed(1)}" fill="${s.color}"/>`);
      });
    } else {
      const points = s.values.map((v, t) => `${x(t + 0.5).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="1.2"/>`);
    }
  });
  const axisY = TOP + series.length * (PANEL_H + GAP) - GAP + 14;
  const step = Math.max(10, Math.ceil(n / 10 / 10) * 10);
  for (let t = 0; t <= n; t += step) out.push(`<text x="${x(t).toFixed(1)}" y="${axisY}" text-anchor="middle">${t} s</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
