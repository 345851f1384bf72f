// Every kernel's WGSL, inlined at build time (Vite `?raw`), keyed by its file name in shaders/.
import activations from '../shaders/activations.wgsl?raw';
import biasAct from '../shaders/bias_act.wgsl?raw';
import elementwise from '../shaders/elementwise.wgsl?raw';
import matmul from '../shaders/matmul.wgsl?raw';
import softmax from '../shaders/softmax.wgsl?raw';

export const SHADERS: Record<string, string> = {
  'activations.wgsl': activations,
  'bias_act.wgsl': biasAct,
  'elementwise.wgsl': elementwise,
  'matmul.wgsl': matmul,
  'softmax.wgsl': softmax,
};
