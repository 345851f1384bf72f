// Every kernel's WGSL, inlined at build time (Vite `?raw`), keyed by its file name in shaders/.
import activations from '../shaders/activations.wgsl?raw';
import biasAct from '../shaders/bias_act.wgsl?raw';
import elementwise from '../shaders/elementwise.wgsl?raw';
import matmul from '../shaders/matmul.wgsl?raw';
import softmax from '../shaders/softmax.wgsl?raw';
import lstmStep from '../shaders/lstm_step.wgsl?raw';
import gruStep from '../shaders/gru_step.wgsl?raw';
import rnnStep from '../shaders/rnn_step.wgsl?raw';
import recurrentMatvec from '../shaders/recurrent_matvec.wgsl?raw';
import stepParams from '../shaders/step_params.wgsl?raw';
import lstmStepBackward from '../shaders/lstm_step_backward.wgsl?raw';
import gruStepBackward from '../shaders/gru_step_backward.wgsl?raw';
import rnnStepBackward from '../shaders/rnn_step_backward.wgsl?raw';
import recurrentMatvecBackward from '../shaders/recurrent_matvec_backward.wgsl?raw';
import backwardParams from '../shaders/backward_params.wgsl?raw';
import repackWhh from '../shaders/repack_whh.wgsl?raw';

export const SHADERS: Record<string, string> = {
  'activations.wgsl': activations,
  'bias_act.wgsl': biasAct,
  'elementwise.wgsl': elementwise,
  'matmul.wgsl': matmul,
  'softmax.wgsl': softmax,
  'lstm_step.wgsl': lstmStep,
  'gru_step.wgsl': gruStep,
  'rnn_step.wgsl': rnnStep,
  'recurrent_matvec.wgsl': recurrentMatvec,
  'step_params.wgsl': stepParams,
  'lstm_step_backward.wgsl': lstmStepBackward,
  'gru_step_backward.wgsl': gruStepBackward,
  'rnn_step_backward.wgsl': rnnStepBackward,
  'recurrent_matvec_backward.wgsl': recurrentMatvecBackward,
  'backward_params.wgsl': backwardParams,
  'repack_whh.wgsl': repackWhh,
};
