// The lab's tweakpane panel: the kernel, its shape and variant fields (one folder per kernel, only
// the chosen one shown), the peers on/off, reps, the tile sweep switch, and the run / peak /
// export / clear buttons. Every control carries `data-field` (`lab.kernel`, `matmul.M`, `lab.run`,
// …) so a test or a script can drive the page through its DOM, and an aria-label with its label
// (tweakpane's labels are not <label> elements): every input, list and button is a native,
// keyboard-focusable control.
import { Pane } from 'tweakpane';
import type { KernelSpec, Params } from './kernels.js';
import { SWEEPS } from './sweep.js';

export interface LabSettings {
  kernel: string;
  /** Timed runs of seqgpu (the median is reported). */
  reps: number;
  /** Timed runs of each peer. */
  peerReps: number;
  tfjs: boolean;
  ort: boolean;
  /** Also run the tile sweep (matmul, LSTM / GRU step and forward). */
  sweep: boolean;
}

export interface LabPanel {
  settings: LabSettings;
  /** The current fields of every kernel (edited in place by the panel). */
  params: Record<string, Params>;
  setBusy(busy: boolean): void;
}

interface Handlers {
  run(): void;
  peak(): void;
  export(): void;
  exportCsv(): void;
  clear(): void;
  /** Any setting or field changed (the permalink follows). */
  change(): void;
}

export function createPanel(
  container: HTMLElement,
  kernels: readonly KernelSpec[],
  settings: LabSettings,
  params: Record<string, Params>,
  handlers: Handlers,
): LabPanel {
  const pane = new Pane({ title: 'kernel lab', container });
  const tag = (api: { element: HTMLElement }, field: string, label?: string) => {
    api.element.dataset.field = field;
    const name = label ?? api.element.querySelector('.tp-lblv_l')?.textContent ?? field;
    for (const el of api.element.querySelectorAll('input, select, button')) el.setAttribute('aria-label', name);
  };

  tag(
    pane.addBinding(settings, 'kernel', { options: kernels.map((k) => ({ text: k.title, value: k.key })) }),
    'lab.kernel',
  );
  const folders = kernels.map((k) => {
    const folder = pane.addFolder({ title: k.title });
    for (const f of k.fields) {
      const label = f.label ?? f.key;
      const api =
        f.kind === 'int'
          ? folder.addBinding(params[k.key], f.key, { label, min: 1, step: 1, format: (v: number) => v.toFixed(0) })
          : f.kind === 'choice'
            ? folder.addBinding(params[k.key], f.key, { label, options: f.options.map((o) => ({ text: o, value: o })) })
            : folder.addBinding(params[k.key], f.key, { label });
      tag(api, `${k.key}.${f.key}`, `${k.title}: ${label}`);
    }
    return { kernel: k, folder };
  });

  const peers = pane.addFolder({ title: 'peers and repetitions' });
  const tfjs = peers.addBinding(settings, 'tfjs', { label: 'tfjs-webgpu' });
  const ort = peers.addBinding(settings, 'ort', { label: 'ort-webgpu' });
  tag(tfjs, 'lab.tfjs', 'measure TensorFlow.js WebGPU');
  tag(ort, 'lab.ort', 'measure onnxruntime-web WebGPU');
  tag(
    peers.addBinding(settings, 'reps', { label: 'seqgpu reps', min: 1, step: 1, format: (v: number) => v.toFixed(0) }),
    'lab.reps',
  );
  tag(
    peers.addBinding(settings, 'peerReps', {
      label: 'peer reps',
      min: 1,
      step: 1,
      format: (v: number) => v.toFixed(0),
    }),
    'lab.peerReps',
  );

  const sweep = pane.addBinding(settings, 'sweep', { label: 'tile sweep' });
  tag(sweep, 'lab.sweep', 'also run the tile sweep (matmul, LSTM / GRU)');

  const run = pane.addButton({ title: 'Run' });
  const peak = pane.addButton({ title: 'Measure peak' });
  const save = pane.addButton({ title: 'Export JSON' });
  const csv = pane.addButton({ title: 'Export CSV' });
  const clear = pane.addButton({ title: 'Clear results' });
  tag(run, 'lab.run', 'Run');
  tag(peak, 'lab.peak', 'Measure the peak FP32 rate (FMA probe)');
  tag(save, 'lab.export', 'Export JSON');
  tag(csv, 'lab.csv', 'Export CSV');
  tag(clear, 'lab.clear', 'Clear results');
  run.on('click', () => handlers.run());
  peak.on('click', () => handlers.peak());
  save.on('click', () => handlers.export());
  csv.on('click', () => handlers.exportCsv());
  clear.on('click', () => handlers.clear());

  const show = () => {
    for (const { kernel, folder } of folders) folder.hidden = kernel.key !== settings.kernel;
    const spec = kernels.find((k) => k.key === settings.kernel);
    tfjs.disabled = !spec?.peers.includes('tfjs');
    ort.disabled = !spec?.peers.includes('ort');
    sweep.disabled = !SWEEPS.includes(settings.kernel);
  };
  pane.on('change', () => {
    show();
    handlers.change();
  });
  show();

  return {
    settings,
    params,
    setBusy(busy: boolean) {
      run.disabled = busy;
      peak.disabled = busy;
      clear.disabled = busy;
    },
  };
}
