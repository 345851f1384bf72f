// Bundles bench/node.ts (seqgpu's sources with the shaders inlined, the checks, TensorFlow.js and
// its dependencies) into one ESM file for Node: `npm run bench:node` builds it to bench/.node/ and runs it.
// Dawn (a native addon) and onnxruntime-web (which loads its own wasm files from
// its dist/ folder) stay external.
import { defineConfig } from 'vite';
import { wgslReflectPlugin } from '../tools/wgsl-reflect.mjs';

export default defineConfig({
  logLevel: 'warn',
  plugins: [wgslReflectPlugin()],
  ssr: { noExternal: true },
  build: {
    ssr: 'bench/node.ts',
    outDir: 'bench/.node',
    emptyOutDir: true,
    target: 'node20',
    rollupOptions: {
      external: ['webgpu', /^onnxruntime-web/],
      output: { entryFileNames: 'node.mjs' },
    },
  },
});
