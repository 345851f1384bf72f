// The Vite server the Node bench scripts load seqgpu's sources through (`server.ssrLoadModule`):
// no config file, the build-time WGSL reflection plugin (tools/wgsl-reflect.mjs, without which a
// kernel is refused), middleware mode (no HTTP server, no HMR), no dependency discovery.
import { createServer } from 'vite';
import { wgslReflectPlugin } from '../tools/wgsl-reflect.mjs';

/**
 * A Vite server rooted at the current directory for loading TypeScript sources in Node.
 * @returns {Promise<import('vite').ViteDevServer>} Close it when done.
 */
export function createSsrServer() {
  return createServer({
    configFile: false,
    plugins: [wgslReflectPlugin()],
    root: process.cwd(),
    logLevel: 'warn',
    appType: 'custom',
    server: { middlewareMode: true, hmr: false, ws: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
}
