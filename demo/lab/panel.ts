// The lab's tweakpane panel: the kernel, its shape and variant fields (one folder per kernel, only
// the chosen one shown), the peers on/off, reps, and the run / export / clear buttons. Every
// control carries `data-field` (`lab.kernel`, `matmul.M`, `lab.run`, …) so a test or a script can
// drive the page through its DOM.
import { Pane } from 'tweakpane';
import type { KernelSpec, Params } from './kernels.js';

export interface LabSettings {
  kernel: string;
  /** Timed runs of seqgpu (the median is reported). */
  reps: number;
  /** Timed runs of each peer. */
  peerReps: number;
  tfjs: boolean;
  ort: boolean;
}

export interface LabPanel {
  settings: LabSettings;
  /** The current fields of every kernel (edited in place by the panel). */
  params: Record<string, Params>;
  setBusy(busy: boolean): void;
}

interface Handlers {
  run(): void;
  export(): void;
  clear(): void;
}

export function createPanel(
  container: HTMLElement,
  kernels: readonly KernelSpec[],
  settings: LabSettings,
  handlers: Handlers,
): LabPanel {
  const pane = new Pane({ title: 'kernel lab', container });
  const tag = (api: { element: HTMLElement }, field: string) => {
    api.element.dataset.field = field;
  };
  const params: Record<string, Params> = Object.fromEntries(kernels.map((k) => [k.key, { ...k.defaults }]));

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
      tag(api, `${k.key}.${f.key}`);
    }
    return { kernel: k, folder };
  });

  const peers = pane.addFolder({ title: 'peers and repetitions' });
  const tfjs = peers.addBinding(settings, 'tfjs', { label: 'tfjs-webgpu' });
  const ort = peers.addBinding(settings, 'ort', { label: 'ort-webgpu' });
  tag(tfjs, 'lab.tfjs');
  tag(ort, 'lab.ort');
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

  const run = pane.addButton({ title: 'Run' });
  const save = pane.addButton({ title: 'Export JSON' });
  const clear = pane.addButton({ title: 'Clear results' });
  tag(run, 'lab.run');
  tag(save, 'lab.export');
  tag(clear, 'lab.clear');
  run.on('click', () => handlers.run());
  save.on('click', () => handlers.export());
  clear.on('click', () => handlers.clear());

  const show = () => {
    for (const { kernel, folder } of folders) folder.hidden = kernel.key !== settings.kernel;
    const spec = kernels.find((k) => k.key === settings.kernel);
    tfjs.disabled = !spec?.peers.includes('tfjs');
    ort.disabled = !spec?.peers.includes('ort');
  };
  pane.on('change', show);
  show();

  return {
    settings,
    params,
    setBusy(busy: boolean) {
      run.disabled = busy;
      clear.disabled = busy;
    },
  };
}
