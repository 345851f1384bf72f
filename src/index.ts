/**
 * seqgpu — a WebGPU compute-shader engine for sequence models.
 * @packageDocumentation
 */
export {
  requestGpu,
  Gpu,
  type RequestGpuOptions,
  type GpuStats,
  type LimitName,
  type PipelineRequest,
  type PipelineProgress,
} from './gpu/device.js';
export { type WarmupOptions, type WarmupProgress, type WarmupResult } from './gpu/pipelineWarmup.js';
export { warmupForward } from './nn/warmup.js';
export {
  type SequenceModelWarmupOptions,
  type Seq2SeqWarmupOptions,
  type TransformerLMWarmupOptions,
} from './models/warmupOptions.js';
export { GpuError, ShapeError, ArgumentError, DestroyedError, type NonFiniteSource } from './util/errors.js';
export { UnsupportedError } from './util/errors.js';
export { GpuLostError, NonFiniteError } from './util/errors.js';
export { type MemoryStats } from './gpu/memory.js';
export { type ModelSnapshot, type RecoverSource } from './nn/recovery.js';
export {
  nanGuardDispatch,
  decodeGuardRecord,
  NAN_GUARD_RECORD_BYTES,
  NAN_GUARD_LOSS,
  NAN_GUARD_GRAD,
  NAN_GUARD_UPDATE,
  type NanGuardArgs,
  type GuardRecord,
} from './kernels/nanGuard.js';
export { BufferPool, type PoolStats } from './gpu/pool.js';
export { KernelSource, type BindingInfo, type OverrideValues, type WgslShader, type ShaderRef } from './gpu/kernel.js';
export { Profiler, type GpuTimings } from './gpu/profiler.js';
export {
  isSoftwareAdapter,
  reductionWidth,
  recurrentChoiceKey,
  measuredRecurrentKernel,
  type MeasuredRecurrentKernel,
  type GpuTuning,
  type AdapterDescription,
} from './gpu/tuning.js';
export type { Dispatch } from './gpu/dispatch.js';
export { Tensor, type DType } from './gpu/tensor.js';
export {
  matmul,
  gemmDispatches,
  type MatmulOptions,
  type GemmArgs,
  type GemmActivation,
  type MatrixView,
} from './kernels/matmul.js';
export { gemmTile, type GemmTile, type GemmVariant, type ResolvedGemmTile } from './kernels/matmulTile.js';
export { softmax, softmaxDispatch, type SoftmaxArgs } from './kernels/softmax.js';
export { softmaxBackwardDispatch, type SoftmaxBackwardArgs } from './kernels/softmaxBackward.js';
export { stridedCopyDispatch, type StridedCopyArgs, type StridedView } from './kernels/stridedCopy.js';
export { reduceAxisDispatch, type ReduceAxisArgs } from './kernels/reduceAxis.js';
export {
  layerNormDispatch,
  layerNormBackwardDispatches,
  type LayerNormArgs,
  type LayerNormBackwardArgs,
} from './kernels/layerNorm.js';
export {
  conv1dDispatch,
  conv1dBackwardDispatches,
  conv1dOutputLength,
  type Conv1dArgs,
  type Conv1dBackwardArgs,
  type Conv1dGeometry,
} from './kernels/conv1d.js';
export {
  add,
  mul,
  scale,
  sigmoid,
  tanh,
  relu,
  tanhGrad,
  elementwiseDispatch,
  ELEMENTWISE_OPS,
  type ElementwiseOp,
} from './kernels/elementwise.js';
export { biasAct, biasActDispatch, ACTIVATIONS, type Activation } from './kernels/biasAct.js';
export {
  RNN,
  LSTM,
  GRU,
  RecurrentLayer,
  RecurrentStepper,
  type RecurrentOptions,
  type RecurrentState,
  type RecurrentOutputs,
} from './nn/recurrent.js';
export { calibrateRecurrent, type RecurrentCalibration, type CalibrateOptions } from './nn/calibrate.js';
export { gateCount, parameterShapes, type CellKind, type RecurrentConfig } from './kernels/recurrentConfig.js';
export { RecurrentPlan, type RunStats } from './graph/recurrentPlan.js';
export { repackWhh, unpackWhh, cellStepDispatch, type CellStepOptions } from './kernels/cellStep.js';
export { readParameter, type StateDict, type StateDictValue, type NamedTensor } from './io/stateDict.js';
export { parseSafetensors, writeSafetensors } from './io/safetensors.js';
export { type StateDictSource } from './io/torchStateDict.js';
export {
  readCheckpoint,
  crc32,
  CHECKPOINT_VERSION,
  type CheckpointFile,
  type LoadCheckpointOptions,
} from './nn/checkpoint.js';
export { crossEntropy, crossEntropyDispatches, type CrossEntropyArgs } from './kernels/crossEntropy.js';
export { mse, mseDispatch, type MseArgs } from './kernels/mse.js';
export {
  reduceSum,
  reduceSumDispatches,
  reduceSumScratch,
  type ReduceSumArgs,
  type ElementRange,
} from './kernels/reduceSum.js';
export {
  embedding,
  embeddingBackward,
  embeddingDispatch,
  embeddingBackwardDispatch,
  type EmbeddingArgs,
  type EmbeddingBackwardArgs,
} from './kernels/embedding.js';
export {
  Dropout as DropoutKernel,
  dropoutKeep,
  dropoutThreshold,
  type DropoutOptions,
  type DropoutArgs,
} from './kernels/dropout.js';
export { Optimizer, type OptimizerOptions, type OptimizerKind, type OptimizerState } from './kernels/optimizer.js';
export { constantLR, stepLR, exponentialLR, cosineLR, type LRSchedule } from './train/schedules.js';
export { TrainedModel, type ModelTrainOptions } from './models/trainedModel.js';
export {
  SequenceModel,
  type SequenceModelOptions,
  type Batch,
  type TrainOptions,
  type StepStats,
  type GenerateOptions,
} from './models/sequenceModel.js';
export { CharVocab, randomWindows } from './data/charText.js';
export {
  Seq2Seq,
  type Seq2SeqOptions,
  type Seq2SeqBatch,
  type Seq2SeqTrainOptions,
  type DecodeResult,
} from './models/seq2seq.js';
export {
  reversePair,
  additionPair,
  toyText,
  digitToken,
  TOY_PAD,
  TOY_BOS,
  TOY_EOS,
  TOY_PLUS,
  TOY_VOCAB,
  type Seq2SeqPair,
} from './data/seq2seqToys.js';
export { rng } from './util/random.js';
export {
  scaledDotProductAttention,
  scaledDotProductAttentionBackward,
  attentionDispatch,
  ATTENTION_MAX_HEAD_DIM,
  AttentionDropout,
  type AttentionDropoutOptions,
  type AttentionArgs,
} from './kernels/attention.js';
export {
  attentionBackwardDispatches,
  projectionView,
  type AttentionBackwardArgs,
  type AttentionView,
  type AttentionOperand,
} from './kernels/attention.js';
export {
  MultiHeadAttention,
  MultiHeadAttentionPlan,
  multiHeadAttentionParameterShapes,
  type MultiHeadAttentionOptions,
  type MultiHeadAttentionCallOptions,
  type MultiHeadAttentionPlanKey,
  type MultiHeadAttentionStats,
  type MultiHeadAttentionGradients,
  type InputSharing,
} from './nn/multiHeadAttention.js';
export {
  RnnAttentionPlan,
  type AttentionScore,
  type SeqView,
  type RnnAttentionConfig,
  type RnnAttentionForwardArgs,
  type RnnAttentionBackwardArgs,
} from './kernels/rnnAttention.js';
export {
  nextTokenDispatch,
  beamSearchStepDispatches,
  gatherBeamRowsDispatch,
  backtrackBeams,
  beamSearchScratchSize,
  BEAM_SEARCH_MAX_WIDTH,
  type NextTokenArgs,
  type BeamSearchStepArgs,
  type GatherBeamRowsArgs,
  type BacktrackOptions,
  type DecodeView,
  type LogitsView,
} from './kernels/decode.js';
export { Module, type Parameter, type LocalParameters } from './nn/module.js';
export { Linear, type LinearOptions, type LinearForwardOptions } from './nn/layers/linear.js';
export { Embedding, type EmbeddingOptions } from './nn/layers/embedding.js';
export { Sequential, type TensorModule } from './nn/layers/sequential.js';
export { KerasRecurrent, type KerasRecurrentOptions } from './nn/layers/kerasRecurrent.js';
export { loadTfjsModel } from './models/tfjs.js';
export { ReLU, Sigmoid, Tanh, GELU, Softmax } from './nn/layers/activations.js';
export { GLU } from './nn/layers/glu.js';
export { Dropout } from './nn/layers/dropout.js';
export { LayerNorm, type LayerNormOptions } from './nn/layers/layerNorm.js';
export { Conv1d, type Conv1dOptions } from './nn/layers/conv1d.js';
export {
  MultiheadAttention,
  type MultiheadAttentionOptions,
  type MultiheadAttentionForwardOptions,
  type MultiheadAttentionResult,
} from './nn/layers/multiheadAttention.js';
export {
  TransformerEncoderLayer,
  TransformerEncoder,
  TransformerDecoderLayer,
  TransformerDecoder,
  type TransformerEncoderLayerOptions,
  type TransformerEncoderLayerForwardOptions,
  type TransformerEncoderOptions,
  type TransformerDecoderLayerForwardOptions,
  type TransformerDecoderOptions,
} from './nn/layers/transformer.js';
export {
  PositionalEncoding,
  sinusoidTable,
  type PositionalEncodingOptions,
  type PositionalEncodingForwardOptions,
} from './nn/layers/positionalEncoding.js';
export { TransformerLM, type TransformerLMOptions, type TransformerLMGenerateOptions } from './models/transformerLM.js';
export { exportOnnx, type ExportOnnxOptions, type OnnxInputSpec } from './models/onnxExport.js';
export { ExportError } from './models/onnxGraph.js';
export {
  LuongAttention,
  BahdanauAttention,
  type LuongAttentionOptions,
  type BahdanauAttentionOptions,
  type AttentionCallOptions,
  type AttentionOutput,
} from './nn/layers/attention.js';
export { type MatmulOpOptions } from './graph/ops/matmul.js';
export {
  attentionMaskDispatch,
  attentionMaskShape,
  attentionWeightsDispatch,
  type AttentionMaskView,
  type AttentionMaskSource,
  type AttentionMaskArgs,
  type AttentionWeightsArgs,
} from './kernels/attention.js';
export { Trainer, type TrainerOptions, type TrainerBatch, type TrainerRunStats } from './train/trainer.js';
export { F } from './graph/functional.js';
