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
import columnSum from '../shaders/column_sum.wgsl?raw';
import attention from '../shaders/attention.wgsl?raw';
import attentionBackward from '../shaders/attention_backward.wgsl?raw';
import rnnAttention from '../shaders/rnn_attention.wgsl?raw';
import rnnAttentionBackward from '../shaders/rnn_attention_backward.wgsl?raw';
import crossEntropy from '../shaders/cross_entropy.wgsl?raw';
import mse from '../shaders/mse.wgsl?raw';
import reduceSum from '../shaders/reduce_sum.wgsl?raw';
import optimizer from '../shaders/optimizer.wgsl?raw';
import embedding from '../shaders/embedding.wgsl?raw';
import embeddingBackward from '../shaders/embedding_backward.wgsl?raw';
import dropout from '../shaders/dropout.wgsl?raw';
import nextToken from '../shaders/next_token.wgsl?raw';
import beamSearchStep from '../shaders/beam_search_step.wgsl?raw';
import gatherRows from '../shaders/gather_rows.wgsl?raw';
import nanGuard from '../shaders/nan_guard.wgsl?raw';

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
  'column_sum.wgsl': columnSum,
  'attention.wgsl': attention,
  'attention_backward.wgsl': attentionBackward,
  'rnn_attention.wgsl': rnnAttention,
  'rnn_attention_backward.wgsl': rnnAttentionBackward,
  'cross_entropy.wgsl': crossEntropy,
  'mse.wgsl': mse,
  'reduce_sum.wgsl': reduceSum,
  'optimizer.wgsl': optimizer,
  'embedding.wgsl': embedding,
  'embedding_backward.wgsl': embeddingBackward,
  'dropout.wgsl': dropout,
  'next_token.wgsl': nextToken,
  'beam_search_step.wgsl': beamSearchStep,
  'gather_rows.wgsl': gatherRows,
  'nan_guard.wgsl': nanGuard,
};
