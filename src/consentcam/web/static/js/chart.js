// A grouped bar chart drawn as SVG: one group per category (an hour), one bar per series (a
// camera), with a y axis of round ticks, grid lines, axis titles and a <title> on every bar.

import { el, svg } from "./ui.js";

// Dark, distinct hues that keep 4.5:1 contrast on white; the data table carries exact figures.
export const PALETTE = ["#0b4f9c", "#c25400", "#007a5e", "#a3367a", "#5d5d00", "#0e6f9e", "#8a3b12", "#4b2a8f"];

/** Whole-number ticks from 0 to at least `max`, about `count` of them (steps of 1, 2 or 5 x 10^k). */
export function niceTicks(max, count = 5) {
  const top = Math.max(1, max);
  const raw = top / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw));
  const ticks = [0];
  while (ticks[ticks.length - 1] < top) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

/**
 * @param {object} spec
 * @param {string[]} spec.categories labels along x (e.g. "09:00")
 * @param {{name: string, values: number[]}[]} spec.series one per camera
 * @param {string} spec.title accessible name of the chart
 * @param {string} spec.xLabel x axis title
 * @param {string} spec.yLabel y axis title
 * @returns {{chart: SVGSVGElement, legend: HTMLElement[]}}
 */
export function groupedBarChart({ categories, series, title, xLabel, yLabel }) {
  const width = 960;
  const height = 380;
  const margin = { top: 20, right: 16, bottom: 64, left: 64 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  const ticks = niceTicks(max);
  const top = ticks[ticks.length - 1] || 1;
  const y = (v) => margin.top + plotH - (v / top) * plotH;
  const groupW = plotW / Math.max(1, categories.length);
  const barW = Math.max(1, (groupW * 0.8) / Math.max(1, series.length));

  const titleId = `chart-title-${Math.random().toString(36).slice(2, 8)}`;
  const chart = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": titleId,
    preserveAspectRatio: "xMidYMid meet",
  });
  chart.append(svg("title", { id: titleId }, title));

  // Grid lines and y tick labels.
  for (const t of ticks) {
    const ty = y(t);
    chart.append(svg("line", { class: "grid", x1: margin.left, x2: width - margin.right, y1: ty, y2: ty }));
    chart.append(svg("text", { x: margin.left - 8, y: ty + 4, "text-anchor": "end" }, String(t)));
  }

  // Bars.
  series.forEach((s, si) => {
    const colour = PALETTE[si % PALETTE.length];
    s.values.forEach((v, ci) => {
      if (!v) return;
      const x = margin.left + ci * groupW + groupW * 0.1 + si * barW;
      const bar = svg("rect", {
        x: x.toFixed(2),
        y: y(v).toFixed(2),
        width: barW.toFixed(2),
        height: (margin.top + plotH - y(v)).toFixed(2),
        fill: colour,
        "data-series": s.name,
        "data-category": categories[ci],
        "data-value": v,
      });
      bar.append(svg("title", {}, `${s.name}, ${categories[ci]}: ${v}`));
      chart.append(bar);
    });
  });

  // Axes.
  chart.append(svg("line", { class: "axis", x1: margin.left, x2: margin.left, y1: margin.top, y2: margin.top + plotH }));
  chart.append(
    svg("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: margin.top + plotH, y2: margin.top + plotH }),
  );

  // x labels: every category when they fit, else every second, third...
  const longest = Math.max(1, ...categories.map((c) => c.length));
  const every = Math.max(1, Math.ceil((longest * 7 + 10) / groupW));
  categories.forEach((label, ci) => {
    if (ci % every !== 0) return;
    const cx = margin.left + ci * groupW + groupW / 2;
    chart.append(svg("line", { class: "axis", x1: cx, x2: cx, y1: margin.top + plotH, y2: margin.top + plotH + 5 }));
    chart.append(svg("text", { x: cx, y: margin.top + plotH + 20, "text-anchor": "middle" }, label));
  });

  // Axis titles.
  chart.append(svg("text", { x: margin.left + plotW / 2, y: height - 12, "text-anchor": "middle" }, xLabel));
  const yx = 16;
  const yy = margin.top + plotH / 2;
  chart.append(svg("text", { x: yx, y: yy, "text-anchor": "middle", transform: `rotate(-90 ${yx} ${yy})` }, yLabel));

  const legend = series.map((s, si) =>
    el(
      "li",
      {},
      swatch(PALETTE[si % PALETTE.length]),
      el("span", {}, s.name),
    ),
  );
  return { chart, legend };
}

function swatch(colour) {
  return svg("svg", { width: 18, height: 18, viewBox: "0 0 18 18", "aria-hidden": "true" }, svg("rect", { width: 18, height: 18, fill: colour }));
}
