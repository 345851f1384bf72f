// The adapter panel: what the adapter says about itself (vendor, architecture, description,
// fallback), whether GPU times are available, every limit of the device seqgpu opened (the
// values it runs under: what it requested, not the adapter's maxima) and every feature, and the
// measured peak FP32 rate once the FMA probe ran (bench/peakProbe.ts).
import type { Gpu } from '../../src/index.js';
import type { Peak } from '../../bench/peakProbe.js';

/** Every limit of `limits` (GPUSupportedLimits' attributes), by name. */
export function limitsRecord(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  // WebIDL attributes are enumerable getters on the prototype.
  for (const key in limits) {
    const v = (limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') out[key] = v;
  }
  return out;
}

function details(summary: string, rows: Array<[string, string]>): HTMLDetailsElement {
  const d = document.createElement('details');
  d.append(Object.assign(document.createElement('summary'), { textContent: summary }));
  const table = document.createElement('table');
  for (const [k, v] of rows) {
    const tr = document.createElement('tr');
    tr.append(
      Object.assign(document.createElement('th'), { textContent: k, scope: 'row' }),
      Object.assign(document.createElement('td'), { textContent: v }),
    );
    table.append(tr);
  }
  const wrap = Object.assign(document.createElement('div'), { className: 'scroll' });
  wrap.append(table);
  d.append(wrap);
  return d;
}

/** Fills `el` with the adapter's description, limits, features and the peak (when measured). */
export function renderAdapter(el: HTMLElement, gpu: Gpu, peak: Peak | null): void {
  const info = gpu.adapterInfo;
  const line = document.createElement('p');
  line.textContent =
    `${info.vendor} ${info.architecture} ${info.description}${info.isFallbackAdapter ? ' (software fallback)' : ''}; ` +
    `timestamp queries: ${gpu.features.timestampQuery ? 'yes (GPU times)' : 'no (wall times)'}; ` +
    (peak
      ? `measured peak ${peak.gflops.toFixed(2)} GFLOP/s (${peak.description})`
      : 'peak not measured yet (press "Measure peak")');
  line.id = 'adapter-line';
  const limits = limitsRecord(gpu.device.limits);
  const features = [...gpu.device.features].sort();
  el.replaceChildren(
    line,
    details(
      `limits (${Object.keys(limits).length})`,
      Object.entries(limits)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, v.toLocaleString('en-US')]),
    ),
    details(
      `features (${features.length})`,
      features.map((f) => [f, 'yes']),
    ),
  );
}
