// onnxruntime-web 1.30 on its WebGPU execution provider, as a benchmark peer. The native WebGPU
// build (ort.webgpu.min.mjs, the ESM form of ort.webgpu.min.js, which loads
// ort-wasm-simd-threaded.asyncify.{mjs,wasm}) is imported from node_modules; the default
// ort.min.js would silently run LSTM/GRU on the CPU.
export interface Ort {
  InferenceSession: { create(model: Uint8Array, opts: object): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  env: { wasm: { wasmPaths?: string; numThreads?: number }; logLevel?: string };
}
export interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { getData(): Promise<Float32Array>; dispose(): void }>>;
  release(): Promise<void>;
}

/**
 * Loads ort.webgpu.min.mjs from `dist` (onnxruntime-web's dist/ folder: a URL path in the page, a
 * file:// URL in Node) and points ORT at the wasm files beside it.
 */
export async function loadOrtWebgpu(dist: string): Promise<Ort | { error: string }> {
  try {
    const url = `${dist}ort.webgpu.min.mjs`; // the ESM form of ort.webgpu.min.js
    const ort = (await import(/* @vite-ignore */ url)) as Ort;
    ort.env.wasm.wasmPaths = dist;
    ort.env.wasm.numThreads = 1; // no cross-origin isolation on the bench page
    return ort;
  } catch (e) {
    return { error: `onnxruntime-web failed to load: ${(e as Error).message}` };
  }
}

const CONSOLE_METHODS = ['log', 'warn', 'info', 'debug', 'error'] as const;
let placementSink: string[] | null = null;
let consoleWrapped = false;

/**
 * Routes console output through one wrapper, installed once: ORT's wasm module keeps the console
 * functions it finds when it initializes (at the first session), so a wrapper swapped in and out
 * per session would only ever see the first session's log.
 */
function wrapConsole(): void {
  if (consoleWrapped) return;
  consoleWrapped = true;
  for (const k of CONSOLE_METHODS) {
    const original = console[k].bind(console);
    console[k] = (...args: unknown[]) => {
      if (!placementSink) return original(...args);
      const line = args.map(String).join(' ');
      if (/placed on|ExecutionProvider|fall ?back/i.test(line)) placementSink.push(line);
    };
  }
}

/**
 * Creates a session on the WebGPU EP with verbose logging and returns the log lines that say
 * where the nodes were placed (proof that LSTM/GRU did not fall back to the CPU).
 */
export async function createWebgpuSession(
  ort: Ort,
  model: Uint8Array,
  captureLog: boolean,
): Promise<{ session: OrtSession; placement: string[] }> {
  const placement: string[] = [];
  wrapConsole();
  if (captureLog) placementSink = placement;
  try {
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ['webgpu'],
      logSeverityLevel: captureLog ? 0 : 3,
      logVerbosityLevel: 0,
    });
    return { session, placement };
  } finally {
    placementSink = null;
  }
}
