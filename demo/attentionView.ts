// The char LM Transformer's attention, one small heat map per head: for a window of generated
// text, which earlier characters (columns, keys) each character (rows, queries) attends to in the
// chosen layer. Causal: everything right of the diagonal is 0. The layer is chosen in the view's
// own select (redrawn from the weights already read back, no GPU work).
import { HeatMap } from './charts.js';
import type { AttentionOutput } from './tasks/task.js';
import { el } from './tasks/task.js';

/** A character as an axis label: space and control characters made visible. */
export function charLabel(ch: string): string {
  return ch === ' ' ? '␣' : ch === '\n' ? '↵' : ch === '\t' ? '⇥' : ch;
}

export class AttentionHeads {
  private readonly maps: HeatMap[];
  private readonly select: HTMLSelectElement;
  private readonly note: HTMLElement;
  private chars: string[] = [];
  private weights: Float32Array[] = [];
  private step = 0;
  private layer: number;

  constructor(
    parent: HTMLElement,
    private readonly nhead: number,
    private readonly numLayers: number,
  ) {
    const box = el('div', 'attention', parent);
    const head = el('h3', '', box, 'Attention per head — layer ');
    this.select = el('select', '', head);
    this.select.id = 'attention-layer';
    for (let l = 0; l < numLayers; l++) el('option', '', this.select, String(l + 1)).value = String(l);
    this.layer = numLayers - 1;
    this.select.value = String(this.layer);
    this.select.addEventListener('change', () => {
      this.layer = Number(this.select.value);
      this.draw();
    });
    head.append(' (rows: each character of the last sample, columns: the characters it reads; causal)');
    this.note = el('div', 'muted', box, 'The heat maps appear with the first sample.');
    const row = el('div', 'heads', box);
    this.maps = Array.from(
      { length: nhead },
      (_, h) => new HeatMap(el('canvas', 'head', row), `head ${h + 1}`, 'after the first sample', true),
    );
  }

  /** New weights: per layer [nhead, T, T] for the window `chars`. */
  set(chars: string[], weights: Float32Array[], step: number): void {
    this.chars = chars;
    this.weights = weights;
    this.step = step;
    this.draw();
  }

  private draw(): void {
    const w = this.weights[this.layer];
    if (!w) return;
    const T = this.chars.length;
    const labels = this.chars.map(charLabel);
    this.maps.forEach((m, h) => {
      const rows = Array.from({ length: T }, (_, i) => Array.from(w.subarray((h * T + i) * T, (h * T + i + 1) * T)));
      m.set(rows, labels, labels, `head ${h + 1}`);
    });
    const layer = `layer ${this.layer + 1} of ${this.numLayers}`;
    this.note.textContent = `step ${this.step}: “${this.chars.join('')}” (${T} characters), ${layer}`;
  }

  /** What is drawn, for the test hook. */
  output(): AttentionOutput | null {
    if (!this.weights.length) return null;
    return {
      chars: this.chars,
      nhead: this.nhead,
      numLayers: this.numLayers,
      layer: this.layer,
      weights: this.weights.map((w) => Array.from(w)),
      step: this.step,
    };
  }
}
