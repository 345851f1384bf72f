// Opens the one device a Node test file uses. There is no GPU on CI: Dawn runs on SwiftShader
// (tools/with-swiftshader.sh). With no adapter this THROWS, so the run fails loudly.
import { requestGpu, type Gpu, type RequestGpuOptions } from '../../src/index.js';

export async function testGpu(opts: RequestGpuOptions = {}): Promise<Gpu> {
  return requestGpu(opts);
}
