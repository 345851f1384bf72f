#!/usr/bin/env bash
# Run a command with the environment WebGPU needs on a machine without a GPU:
# Dawn (Node) and headless Chromium then find SwiftShader's Vulkan driver, which Debian's
# chromium package ships. On a machine with a real GPU driver set SEQGPU_USE_SYSTEM_VULKAN=1.
set -euo pipefail
icd=/usr/lib/chromium/vk_swiftshader_icd.json
if [ -z "${SEQGPU_USE_SYSTEM_VULKAN:-}" ] && [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f "$icd" ]; then
  export VK_ICD_FILENAMES="$icd"
fi
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR=/tmp/xdg-$(id -u)
  mkdir -p -m700 "$XDG_RUNTIME_DIR"
fi
exec "$@"
