/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import { wgslReflectPlugin } from './tools/wgsl-reflect.mjs';

// One config for the library build (`vite build`), the demo and bench pages (dev server on
// 127.0.0.1) and the tests (vitest, in Node on Dawn + SwiftShader).
export default defineConfig({
  // Kernels are reflected at build time: `shaders/*.wgsl?raw` imports carry their bindings as JSON.
  plugins: [wgslReflectPlugin()],
  server: { host: '127.0.0.1', strictPort: false },
  // Pre-bundle the pages' dependencies at server start: discovering them on first load would
  // make Vite reload the page mid-run.
  optimizeDeps: {
    entries: ['bench/index.html', 'test/browser/index.html', 'demo/index.html', 'demo/lab.html'],
    include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu', 'tweakpane'],
  },
  build: {
    target: 'es2022',
    outDir: 'dist',
    sourcemap: true,
    // One entry per platform (package.json "exports" picks by condition): dist/index.js for Node
    // (opens Dawn from the `webgpu` package), dist/index.browser.js for browsers and bundlers
    // (navigator.gpu only, no reference to `webgpu`); the code they share is one chunk.
    lib: {
      entry: { index: 'src/index.node.ts', 'index.browser': 'src/index.browser.ts' },
      formats: ['es'],
      fileName: (_format, name) => `${name}.js`,
    },
    rollupOptions: { external: ['webgpu'], output: { chunkFileNames: 'seqgpu.js' } },
  },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // One SwiftShader device at a time: the machine has 2 cores and SwiftShader uses them all.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
