// Charts over time for the dashboard: plain SVG drawn from arrays of samples.
//
// Why no charting library: the page is compiled into the node binary and served
// without a build step or a CDN (a node may have no internet access, and a page that
// loads third-party code would run it with the operator's admin token in reach). Four
// small charts — lines, bars and a transport timeline — are ~150 lines of SVG; a
// library would be 50-200 KiB to embed and to keep up to date.
//
// Every chart sets data attributes a test (or a curious operator) can read:
// `data-points` (samples drawn) and `data-last` (the newest values, JSON).

const SVG_NS = 'http://www.w3.org/2000/svg';
export const WINDOW_MS = 120000;  // what the line and timeline charts show

// The drawing width in px: one viewBox unit per pixel, so text is never stretched.
const widthOf = (svg) => Math.max(200, Math.round(svg.clientWidth || 600));

function el(name, attributes = {}, text = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

// x of time `t_ms` in a window ending at `now_ms`, on a chart `width` px wide.
function xOf(t_ms, now_ms, width) {
  return ((t_ms - (now_ms - WINDOW_MS)) / WINDOW_MS) * width;
}

/** Drops samples older than the window from `samples` ([[t_ms, ...], ...]), in place. */
export function trim(samples, now_ms) {
  while (samples.length > 0 && samples[0][0] < now_ms - WINDOW_MS) samples.shift();
}

/** The same for a timeline: its newest sample older than the window still holds. */
export function trimTimeline(samples, now_ms) {
  while (samples.length > 1 && samples[1][0] < now_ms - WINDOW_MS) samples.shift();
}

/**
 * Lines over the last WINDOW_MS. `series`: [{name, samples: [[t_ms, value|null]]}];
 * a null value is a gap. `unit` labels the top of the y axis.
 */
export function drawLines(svg, series, { height = 120, unit = '', now_ms = Date.now() } = {}) {
  const width = widthOf(svg);
  const values = series.flatMap((s) => s.samples.map((p) => p[1])).filter((v) => v !== null);
  const min = values.length ? Math.min(...values) : 0;
  const max = values.length ? Math.max(...values) : 1;
  const span = max - min || 1;
  const yOf = (v) => height - 14 - ((v - min) / span) * (height - 28);
  const children = [
    el('text', { x: 4, y: 12, class: 'axis' }, `${formatValue(max)}${unit}`),
    el('text', { x: 4, y: height - 2, class: 'axis' }, `${formatValue(min)}${unit}`),
  ];
  series.forEach((s, i) => {
    let path = '';
    let pen = 'M';
    for (const [t_ms, v] of s.samples) {
      if (v === null) { pen = 'M'; continue; }
      path += `${pen}${xOf(t_ms, now_ms, width).toFixed(1)},${yOf(v).toFixed(1)} `;
      pen = 'L';
    }
    children.push(el('path', { d: path || 'M0,0', class: `line series-${i % 6}` }));
    children.push(el('text', { x: 90 + 90 * i, y: 12, class: `legend series-${i % 6}` }, `— ${s.name}`));
  });
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.replaceChildren(...children);
  svg.dataset.points = String(series.reduce((n, s) => n + s.samples.filter((p) => p[1] !== null).length, 0));
  svg.dataset.last = JSON.stringify(Object.fromEntries(series.map((s) => {
    const last = [...s.samples].reverse().find((p) => p[1] !== null);
    return [s.name, last ? last[1] : null];
  })));
}

function formatValue(v) {
  if (Math.abs(v) >= 100 || Number.isInteger(v)) return String(Math.round(v));
  return v.toPrecision(3);
}

/**
 * One row per peer link, coloured by transport (p2p, http, down) over the last
 * WINDOW_MS. `links`: [{name, samples: [[t_ms, transport]]}]; a sample holds until the
 * next one (or now).
 */
export function drawTimeline(svg, links, { now_ms = Date.now() } = {}) {
  const row = 18;
  const label = 150;  // px kept for the link names
  const width = widthOf(svg);
  const height = Math.max(row, links.length * row);
  const children = [];
  links.forEach((link, i) => {
    const y = i * row;
    children.push(el('text', { x: 2, y: y + 13, class: 'legend' }, link.name));
    link.samples.forEach(([t_ms, transport], k) => {
      const end_ms = k + 1 < link.samples.length ? link.samples[k + 1][0] : now_ms;
      const x0 = label + Math.max(0, xOf(t_ms, now_ms, width - label));
      let x1 = label + Math.max(0, xOf(end_ms, now_ms, width - label));
      if (k + 1 === link.samples.length) x1 = Math.max(x1, x0 + 2);  // a state just entered shows
      if (x1 - x0 <= 0) return;
      children.push(el('rect', {
        x: x0.toFixed(1), y: y + 2, width: (x1 - x0).toFixed(1), height: row - 4,
        class: `transport-${transport}`, 'data-transport': transport,
      }));
    });
  });
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.style.height = `${height}px`;
  svg.replaceChildren(...children);
  svg.dataset.points = String(links.reduce((n, l) => n + l.samples.length, 0));
  svg.dataset.last = JSON.stringify(Object.fromEntries(links.map((l) => [l.name, l.samples.at(-1)?.[1] ?? null])));
}

// ---- Prometheus histograms ---------------------------------------------------

/**
 * The cumulative buckets of histogram `name` in Prometheus text `text`, summed over
 * label sets other than `le`: [[le_seconds, count], ...] sorted by le (+Inf last).
 */
export function parseHistogram(text, name) {
  const byLe = new Map();
  const pattern = new RegExp(`^${name}_bucket\\{([^}]*)\\}\\s+([0-9.eE+-]+)`);
  for (const line of text.split('\n')) {
    const match = pattern.exec(line);
    if (!match) continue;
    const le = /(?:^|,)le="([^"]+)"/.exec(match[1]);
    if (!le) continue;
    const bound = le[1] === '+Inf' ? Infinity : Number(le[1]);
    byLe.set(bound, (byLe.get(bound) || 0) + Number(match[2]));
  }
  return [...byLe.entries()].sort((a, b) => a[0] - b[0]);
}

/** Bucket-wise `now - before` (a counter reset, e.g. a restarted node, counts from 0). */
export function bucketDelta(now, before) {
  const old = new Map(before || []);
  const reset = now.some(([le, count]) => count < (old.get(le) || 0));
  return now.map(([le, count]) => [le, reset ? count : count - (old.get(le) || 0)]);
}

/** Bucket-wise sum of several bucket lists with the same bounds. */
export function bucketSum(lists) {
  const sum = new Map();
  for (const list of lists) for (const [le, count] of list) sum.set(le, (sum.get(le) || 0) + count);
  return [...sum.entries()].sort((a, b) => a[0] - b[0]);
}

/**
 * The q-quantile of cumulative buckets, interpolated linearly inside the bucket as
 * Prometheus's histogram_quantile() does; null without observations.
 */
export function quantile(buckets, q) {
  const total = buckets.length ? buckets.at(-1)[1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lower;  // beyond the last bound: its lower edge
      const inside = count - below;
      return inside > 0 ? lower + (le - lower) * ((rank - below) / inside) : le;
    }
    lower = le;
    below = count;
  }
  return lower;
}
