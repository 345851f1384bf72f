#!/usr/bin/env bash
# The GPU benches on a lent device machine (the `device` tool: NVIDIA H100/H200, no Node, no npm
# registry, 64 MiB of working tree + carried paths per call). Two halves:
#
#   bash tools/gpu-kit.sh            here: builds what the machine lacks, all git-ignored —
#                                    .gpukit/node.tar.xz (this machine's Node), .gpukit/webgpu.tar.xz
#                                    (node_modules/webgpu with linux-x64's Dawn only), bench/.node/
#                                    (npm run bench:node's bundle: the suite, tfjs and the checks) and
#                                    .gl/*.deb (the Vulkan / EGL loaders, amd64); prints the sizes.
#   bash tools/gpu-kit.sh --unpack   there, first in every call: Node into .gpukit/bin, webgpu into
#                                    node_modules/, the loaders into /; prints the Vulkan adapter.
#
# A call then carries [".gpukit", ".gl", "bench/.node"] and runs, e.g. (onnxruntime-web has no
# working WebGPU EP under Dawn's Node bindings: --ort=0; its rows come from Chromium):
#   bash tools/gpu-kit.sh --unpack && export PATH=$PWD/.gpukit/bin:$PATH &&
#   node bench/.node/node.mjs --check --ort=0 --reps=20 --peer-reps=10 --layers=1,3 \
#     --kernels=step,persistent,wavefront --out=$OUT > $OUT/bench.txt 2>&1
# (bench/RESULTS.md keeps what such runs measured, with the device named.)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--unpack" ]]; then
  mkdir -p .gpukit/bin node_modules
  tar -xJf .gpukit/node.tar.xz -C .gpukit/bin
  tar -xJf .gpukit/webgpu.tar.xz -C node_modules
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  # Where the driver's ICD is not found by default (the device notes' advice).
  if [[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  fi
  .gpukit/bin/node --version
  # Without tools/with-swiftshader.sh, Dawn finds the machine's Vulkan driver.
  .gpukit/bin/node --input-type=module -e "
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    const a = await create([]).requestAdapter();
    console.log('adapter:', a ? JSON.stringify(a.info) : 'none');
  "
  exit 0
fi

mkdir -p .gpukit .gl
tar -cJf .gpukit/node.tar.xz -C "$(dirname "$(readlink -f "$(command -v node)")")" node
tar -cJf .gpukit/webgpu.tar.xz -C node_modules \
  webgpu/index.js webgpu/package.json webgpu/types.d.ts webgpu/dist/linux-x64
npx vite build --config bench/vite.node.config.ts --logLevel warn
if ! ls .gl/*.deb > /dev/null 2>&1; then
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial
  # shellcheck disable=SC2086
  apt-get $o update > /dev/null
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 > /dev/null)
fi
du -ch .gpukit/*.tar.xz .gl/*.deb bench/.node | tail -n +1
