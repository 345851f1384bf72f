// TensorFlow.js on its WebGPU backend, as a benchmark peer (devDependency).
export type Tf = typeof import('@tensorflow/tfjs');

export async function loadTfWebgpu(): Promise<Tf | { error: string }> {
  try {
    const tf = await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-webgpu');
    const ok = await tf.setBackend('webgpu');
    await tf.ready();
    if (!ok || tf.getBackend() !== 'webgpu')
      return { error: `tfjs could not start its webgpu backend (backend: ${tf.getBackend()})` };
    return tf;
  } catch (e) {
    return { error: `tfjs webgpu failed to load: ${(e as Error).message}` };
  }
}
