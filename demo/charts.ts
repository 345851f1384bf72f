// Plain canvas charts for the demo page (no chart library): line charts (training curves,
// forecasts), horizontal bars (GPU time per kernel) and a heat map (attention weights).
// Each chart redraws only when marked dirty, from requestAnimationFrame (see `drawAll`), and when
// its canvas is resized (a ResizeObserver). Colours of text, axes and grid follow the page's
// light / dark theme (CSS custom properties --chart-text, --chart-axis, --chart-grid). Line and bar
// charts export their data as CSV (`toCsv`); chartTools.ts adds the buttons.

const FONT = '11px system-ui, sans-serif';
let AXIS = '#888';
let GRID = '#eee';
let TEXT = '#333';

/** Reads the theme's chart colours (light or dark, from the page's CSS) before a frame is drawn. */
function readTheme(): void {
  if (typeof getComputedStyle !== 'function') return;
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, d: string) => css.getPropertyValue(name).trim() || d;
  AXIS = v('--chart-axis', '#888');
  GRID = v('--chart-grid', '#eee');
  TEXT = v('--chart-text', '#333');
}

/** Sizes the canvas backing store to its CSS box × devicePixelRatio; returns a context in CSS pixels. */
function prepare(canvas: HTMLCanvasElement): { ctx: CanvasRenderingContext2D; w: number; h: number } {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, canvas.clientWidth);
  const h = Math.max(1, canvas.clientHeight);
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = FONT;
  return { ctx, w, h };
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/**
 * Ticks for a log10 axis spanning [lo, hi] (log10 units): powers of ten, with 2 and 5 between them over few decades;
 * round linear values within one decade.
 */
export function logTicks(lo: number, hi: number): number[] {
  if (hi - lo < 1)
    return niceTicks(10 ** lo, 10 ** hi, 4)
      .filter((v) => v > 0)
      .map(Math.log10);
  const out: number[] = [];
  const ms = hi - lo < 3 ? [1, 2, 5] : [1];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
    for (const m of ms) {
      const v = Math.log10(m) + k;
      if (v >= lo && v <= hi) out.push(v);
    }
  }
  return out;
}

export function fmt(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
  return String(Number(v.toPrecision(2)));
}

interface Drawable {
  draw(): void;
}

const dirty = new Set<Drawable>();
let scheduled = false;

/** Redraws a chart whenever its canvas's box changes size (window resize, panel layout, 360 px phones). */
const resized =
  typeof ResizeObserver === 'function'
    ? new ResizeObserver((entries) => {
        for (const e of entries) {
          const c = charts.get(e.target);
          if (c) markDirty(c);
        }
      })
    : null;
const charts = new WeakMap<Element, Drawable>();
/** Every chart made (weakly: a rebuilt task's charts go), for a redraw when the theme changes. */
const all = new Set<WeakRef<Drawable>>();
function observe(canvas: HTMLCanvasElement, c: Drawable): void {
  charts.set(canvas, c);
  resized?.observe(canvas);
  all.add(new WeakRef(c));
}
// The theme changed (prefers-color-scheme): redraw every chart with its colours.
if (typeof matchMedia === 'function') {
  matchMedia('(prefers-color-scheme: dark)').addEventListener?.('change', () => {
    for (const r of all) {
      const c = r.deref();
      if (c) markDirty(c);
      else all.delete(r);
    }
  });
}

function markDirty(c: Drawable): void {
  dirty.add(c);
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(drawAll);
  }
}

/** Redraws every chart marked dirty since the last frame. */
export function drawAll(): void {
  scheduled = false;
  readTheme();
  for (const c of [...dirty]) {
    dirty.delete(c);
    c.draw();
  }
}

export interface Series {
  name: string;
  color: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
  dashed?: boolean;
  /** Draw a dot per point (sparse series, e.g. validation loss). */
  dots?: boolean;
  width?: number;
}

export interface LineChartOptions {
  title: string;
  logY?: boolean;
  /** Axis titles with their units ("training step", "loss (nats / character)"); also the CSV's header. */
  xLabel?: string;
  yLabel?: string;
  /** Vertical marker lines (e.g. where a forecast starts), in x units. */
  markers?: number[];
  /** Text shown while there is no data. */
  empty?: string;
}

/** A line chart of several series sharing the axes; long series are drawn min/max per pixel column. */
export class LineChart implements Drawable {
  series: Series[] = [];
  /** The reader's log-scale choice (the toggle); null: the chart's own `options.logY`. */
  logOverride: boolean | null = null;
  /** A checkbox showing whether the y axis is logarithmic (kept in step at each draw). */
  logToggle: HTMLInputElement | null = null;
  constructor(
    readonly canvas: HTMLCanvasElement,
    public options: LineChartOptions,
  ) {
    observe(canvas, this);
    markDirty(this);
  }

  /** The data as CSV: one row per point, `series,x,y` (the header names the axes with their units). */
  toCsv(): string {
    const q = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
    const rows = [['series', this.options.xLabel ?? 'x', this.options.yLabel ?? 'y'].map(q).join(',')];
    this.series.forEach((s, k) => {
      const name = q(s.name || `series ${k + 1}`);
      for (let i = 0; i < s.xs.length; i++) rows.push(`${name},${s.xs[i]},${s.ys[i]}`);
    });
    return `${rows.join('\n')}\n`;
  }

  set(series: Series[], options?: Partial<LineChartOptions>): void {
    this.series = series;
    if (options) this.options = { ...this.options, ...options };
    markDirty(this);
  }

  update(): void {
    markDirty(this);
  }

  draw(): void {
    const { ctx, w, h } = prepare(this.canvas);
    const logY = this.logOverride ?? !!this.options.logY;
    if (this.logToggle) this.logToggle.checked = logY;
    const { xLabel, yLabel } = this.options;
    const pad = { l: yLabel ? 58 : 46, r: 10, t: 20, b: xLabel ? 32 : 20 };
    ctx.fillStyle = TEXT;
    ctx.textBaseline = 'top';
    ctx.fillText(this.options.title, pad.l, 3);
    // Legend entries right-aligned beside the title, wrapping onto more lines above the plot.
    const legend: Array<{ s: Series; x: number; y: number; tw: number }> = [];
    {
      const right = w - pad.r - 4;
      let lx = right;
      let line = 0;
      let minX = pad.l + ctx.measureText(this.options.title).width + 12;
      for (const s of [...this.series].reverse()) {
        if (!s.name) continue;
        const tw = Math.min(ctx.measureText(s.name).width, right - pad.l - 14);
        if (lx - tw - 14 < minX && lx !== right) {
          line++;
          lx = right;
          minX = pad.l;
        }
        legend.push({ s, x: lx, y: 3 + 13 * line, tw });
        lx -= tw + 24;
      }
      pad.t += 13 * line;
    }
    const ty = (v: number) => (logY ? Math.log10(v) : v);
    let x0 = Infinity,
      x1 = -Infinity,
      y0 = Infinity,
      y1 = -Infinity;
    for (const s of this.series) {
      for (let i = 0; i < s.xs.length; i++) {
        const y = s.ys[i];
        if (!Number.isFinite(y) || (logY && y <= 0)) continue;
        x0 = Math.min(x0, s.xs[i]);
        x1 = Math.max(x1, s.xs[i]);
        y0 = Math.min(y0, ty(y));
        y1 = Math.max(y1, ty(y));
      }
    }
    if (!(x1 >= x0)) {
      ctx.fillStyle = AXIS;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(this.options.empty ?? 'no data yet', w / 2, h / 2);
      ctx.textAlign = 'left';
      return;
    }
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) {
      y0 -= 0.5;
      y1 += 0.5;
    }
    const margin = (y1 - y0) * 0.05;
    y0 -= margin;
    y1 += margin;
    const pw = w - pad.l - pad.r;
    const ph = h - pad.t - pad.b;
    const X = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * pw;
    const Y = (v: number) => pad.t + (1 - (v - y0) / (y1 - y0)) * ph;

    // Grid and tick labels.
    ctx.strokeStyle = GRID;
    ctx.lineWidth = 1;
    ctx.fillStyle = AXIS;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const yTicks = logY ? logTicks(y0, y1) : niceTicks(y0, y1, 4);
    const yTick = logY ? (v: number) => fmt(10 ** v) : fmt;
    for (const v of yTicks.length ? yTicks : [y0, y1]) {
      ctx.beginPath();
      ctx.moveTo(pad.l, Y(v));
      ctx.lineTo(w - pad.r, Y(v));
      ctx.stroke();
      ctx.fillText(yTick(v), pad.l - 4, Y(v));
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const v of niceTicks(x0, x1, Math.max(2, Math.floor(pw / 70)))) ctx.fillText(fmt(v), X(v), h - pad.b + 4);
    ctx.strokeStyle = AXIS;
    ctx.strokeRect(pad.l, pad.t, pw, ph);
    // Axis titles (with units).
    if (xLabel) {
      ctx.textAlign = 'right';
      ctx.textBaseline = 'bottom';
      ctx.fillText(xLabel, w - pad.r, h - 1);
    }
    if (yLabel) {
      ctx.save();
      ctx.translate(10, pad.t + ph / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(`${yLabel}${logY ? ' (log)' : ''}`, 0, 0, ph);
      ctx.restore();
    }
    for (const m of this.options.markers ?? []) {
      if (m < x0 || m > x1) continue;
      ctx.setLineDash([2, 3]);
      ctx.beginPath();
      ctx.moveTo(X(m), pad.t);
      ctx.lineTo(X(m), pad.t + ph);
      ctx.stroke();
      ctx.setLineDash([]);
    }

    // Series.
    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.l, pad.t, pw, ph);
    ctx.clip();
    for (const s of this.series) {
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = s.width ?? 1.5;
      ctx.setLineDash(s.dashed ? [5, 4] : []);
      if (s.dots) {
        for (let i = 0; i < s.xs.length; i++) {
          const y = s.ys[i];
          if (!Number.isFinite(y) || (logY && y <= 0)) continue;
          ctx.beginPath();
          ctx.arc(X(s.xs[i]), Y(ty(y)), 2.5, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
      if (s.dots && s.xs.length > 200) continue;
      // Min/max per pixel column keeps spikes visible however long the series is.
      ctx.beginPath();
      let pen = false;
      let col = -1,
        lo = 0,
        hi = 0,
        last = 0;
      const flush = () => {
        if (col < 0) return;
        if (!pen) {
          ctx.moveTo(col, lo);
          pen = true;
        } else ctx.lineTo(col, lo);
        if (hi !== lo) ctx.lineTo(col, hi);
        ctx.lineTo(col, last);
      };
      for (let i = 0; i < s.xs.length; i++) {
        const y = s.ys[i];
        if (!Number.isFinite(y) || (logY && y <= 0)) {
          flush();
          col = -1;
          pen = false;
          continue;
        }
        const px = Math.round(X(s.xs[i]));
        const py = Y(ty(y));
        if (px !== col) {
          flush();
          col = px;
          lo = hi = last = py;
        } else {
          lo = Math.min(lo, py);
          hi = Math.max(hi, py);
          last = py;
        }
      }
      flush();
      ctx.stroke();
    }
    ctx.restore();
    ctx.setLineDash([]);

    // Legend.
    ctx.textAlign = 'right';
    ctx.textBaseline = 'top';
    for (const { s, x, y, tw } of legend) {
      ctx.fillStyle = TEXT;
      ctx.fillText(s.name, x, y, tw);
      ctx.fillStyle = s.color;
      ctx.fillRect(x - tw - 14, y + 5, 10, 3);
    }
    ctx.textAlign = 'left';
  }
}

/** Horizontal bars with a label and a value each (GPU time per kernel kind). */
export class BarChart implements Drawable {
  bars: Array<{ label: string; value: number }> = [];
  note = '';
  constructor(
    readonly canvas: HTMLCanvasElement,
    public title: string,
    public unit = 'ms',
  ) {
    observe(canvas, this);
    markDirty(this);
  }

  /** The bars as CSV: `label,<unit>`. */
  toCsv(): string {
    const q = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
    return `${['label', this.unit].join(',')}\n${this.bars.map((b) => `${q(b.label)},${b.value}`).join('\n')}\n`;
  }

  set(bars: Array<{ label: string; value: number }>, note = ''): void {
    this.bars = bars;
    this.note = note;
    markDirty(this);
  }

  draw(): void {
    const { ctx, w, h } = prepare(this.canvas);
    ctx.fillStyle = TEXT;
    ctx.textBaseline = 'top';
    ctx.fillText(this.title, 8, 3);
    if (this.bars.length === 0) {
      ctx.fillStyle = AXIS;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(this.note || 'no data yet', w / 2, h / 2);
      ctx.textAlign = 'left';
      return;
    }
    const total = this.bars.reduce((a, b) => a + b.value, 0);
    const max = Math.max(...this.bars.map((b) => b.value), 1e-12);
    const top = 20;
    const bottom = this.note ? 16 : 4;
    const rowH = Math.min(18, (h - top - bottom) / this.bars.length);
    const labelW = Math.min(150, w * 0.38);
    const valueW = 92;
    const bw = w - labelW - valueW - 16;
    ctx.textBaseline = 'middle';
    this.bars.forEach((b, i) => {
      const y = top + i * rowH;
      ctx.fillStyle = TEXT;
      ctx.textAlign = 'right';
      ctx.fillText(b.label, labelW, y + rowH / 2, labelW - 4);
      ctx.fillStyle = `hsl(${210 - (150 * i) / Math.max(1, this.bars.length - 1)}, 60%, 55%)`;
      ctx.fillRect(labelW + 6, y + 2, Math.max(1, (b.value / max) * bw), rowH - 4);
      ctx.fillStyle = TEXT;
      ctx.textAlign = 'left';
      ctx.fillText(
        `${b.value.toFixed(b.value < 1 ? 3 : 1)} ${this.unit} · ${((100 * b.value) / total).toFixed(0)}%`,
        labelW + 10 + Math.max(1, (b.value / max) * bw),
        y + rowH / 2,
      );
    });
    if (this.note) {
      ctx.fillStyle = AXIS;
      ctx.textAlign = 'left';
      ctx.textBaseline = 'bottom';
      ctx.fillText(this.note, 8, h - 2, w - 16);
    }
    ctx.textAlign = 'left';
  }
}

/**
 * A matrix as coloured cells (0 white → 1 dark blue) with row and column labels. `compact`: small
 * margins and labels (one character each), drawn only where the cells are wide enough for them.
 */
export class HeatMap implements Drawable {
  rows: number[][] = [];
  rowLabels: string[] = [];
  colLabels: string[] = [];
  constructor(
    readonly canvas: HTMLCanvasElement,
    public title: string,
    public empty = 'no data yet',
    readonly compact = false,
  ) {
    observe(canvas, this);
    markDirty(this);
  }

  set(rows: number[][], rowLabels: string[], colLabels: string[], title?: string): void {
    this.rows = rows;
    this.rowLabels = rowLabels;
    this.colLabels = colLabels;
    if (title !== undefined) this.title = title;
    markDirty(this);
  }

  draw(): void {
    const { ctx, w, h } = prepare(this.canvas);
    ctx.fillStyle = TEXT;
    ctx.textBaseline = 'top';
    ctx.fillText(this.title, 8, 3);
    const R = this.rows.length;
    const C = R ? this.rows[0].length : 0;
    if (!R || !C) {
      ctx.fillStyle = AXIS;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(this.empty, w / 2, h / 2);
      ctx.textAlign = 'left';
      return;
    }
    const left = this.compact ? 14 : 44;
    const top = this.compact ? 30 : 38;
    const cell = this.compact
      ? Math.max(1, Math.min((w - left - 4) / C, (h - top - 4) / R, 34))
      : Math.max(4, Math.min((w - left - 10) / C, (h - top - 8) / R, 34));
    const labels = !this.compact || cell >= 7;
    if (this.compact) ctx.font = `${Math.min(11, Math.floor(cell + 1))}px ui-monospace, monospace`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    if (labels) this.colLabels.forEach((l, c) => ctx.fillText(l, left + (c + 0.5) * cell, top - 3));
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    if (labels)
      this.rowLabels.forEach((l, r) => ctx.fillText(l, left - (this.compact ? 3 : 5), top + (r + 0.5) * cell));
    const gap = cell >= 4 ? 1 : 0;
    for (let r = 0; r < R; r++) {
      for (let c = 0; c < C; c++) {
        const v = Math.max(0, Math.min(1, this.rows[r][c]));
        // White → blue → dark blue.
        const light = 97 - 72 * v;
        ctx.fillStyle = `hsl(215, ${40 + 45 * v}%, ${light}%)`;
        ctx.fillRect(left + c * cell, top + r * cell, cell - gap, cell - gap);
        if (cell >= 26) {
          ctx.fillStyle = v > 0.5 ? '#fff' : TEXT;
          ctx.textAlign = 'center';
          ctx.fillText(v.toFixed(2).replace(/^0/, ''), left + (c + 0.5) * cell, top + (r + 0.5) * cell);
        }
      }
    }
    ctx.textAlign = 'left';
  }
}
