// `npm run demo:build`: the demo pages as a static site in demo-dist/ (serve it from any https
// or localhost origin: WebGPU needs a secure context). `npm run demo` serves the same pages with
// the project's vite.config.ts (dev server on 127.0.0.1).
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { wgslReflectPlugin } from '../tools/wgsl-reflect.mjs';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

// The kernel lab's onnxruntime-web peer (WebGPU EP): its three files are served as ./ort/ beside
// the pages in dev and copied there in the build (the lab reads VITE_ORT_DIST).
const ORT_FILES = ['ort.webgpu.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'];
const ortDir = here('../node_modules/onnxruntime-web/dist/');
function ortFiles(): Plugin {
  const type = (f: string) => (f.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
  return {
    name: 'seqgpu-ort-files',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const file = ORT_FILES.find((f) => req.url?.split('?')[0].endsWith(`/ort/${f}`));
        if (!file) return next();
        res.setHeader('Content-Type', type(file));
        createReadStream(ortDir + file).pipe(res);
      });
    },
    generateBundle() {
      for (const f of ORT_FILES)
        this.emitFile({ type: 'asset', fileName: `ort/${f}`, source: readFileSync(ortDir + f) });
    },
  };
}

export default defineConfig({
  root: here('.'),
  base: './',
  plugins: [wgslReflectPlugin(), ortFiles()],
  define: { 'import.meta.env.VITE_ORT_DIST': JSON.stringify('./ort/') },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
  build: {
    target: 'es2022',
    outDir: here('../demo-dist'),
    emptyOutDir: true,
    sourcemap: true,
    rollupOptions: {
      // The training page, and the kernel lab when it is there.
      input: Object.fromEntries(
        [
          ['index', here('index.html')],
          ['lab', here('lab.html')],
        ].filter(([, path]) => existsSync(path)),
      ),
    },
  },
});
