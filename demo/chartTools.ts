// The buttons under each chart of the demo page: a log-scale toggle (line charts), and export of
// the chart as a PNG image or its data as CSV. Files are named `seqgpu-<name>.png|csv`.
import type { BarChart, LineChart } from './charts.js';
import { download } from './weights.js';

/** The file name of a chart export. */
export const exportName = (name: string, ext: 'png' | 'csv') => `seqgpu-${name}.${ext}`;

function button(parent: HTMLElement, text: string, label: string, action: string, run: () => void): void {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.setAttribute('aria-label', label);
  b.dataset.chartAction = action;
  b.addEventListener('click', run);
  parent.append(b);
}

/**
 * Puts `chart`'s canvas in a figure with a toolbar (log scale, PNG, CSV) in its place; `name`
 * names the files and `title` the controls for screen readers ("loss").
 */
export function addChartTools(chart: LineChart | BarChart, name: string, title: string): HTMLElement {
  const canvas = chart.canvas;
  const fig = document.createElement('figure');
  fig.className = `chart ${canvas.className}`;
  fig.dataset.chart = name;
  canvas.replaceWith(fig);
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `chart: ${title}`);
  const bar = document.createElement('div');
  bar.className = 'chart-tools';
  fig.append(canvas, bar);
  if ('logOverride' in chart) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.dataset.chartAction = 'log';
    box.addEventListener('change', () => {
      chart.logOverride = box.checked;
      chart.update();
    });
    chart.logToggle = box;
    label.append(box, ' log scale');
    bar.append(label);
  }
  button(bar, 'PNG', `save the ${title} chart as a PNG image`, 'png', () =>
    canvas.toBlob((blob) => {
      if (blob) void blob.arrayBuffer().then((b) => download(new Uint8Array(b), exportName(name, 'png')));
    }, 'image/png'),
  );
  button(bar, 'CSV', `save the data of the ${title} chart as CSV`, 'csv', () =>
    download(new TextEncoder().encode(chart.toCsv()), exportName(name, 'csv')),
  );
  return fig;
}
