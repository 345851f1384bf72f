#!/usr/bin/env bash
# Installs what the main job (`npm run train`) needs on a fresh Debian machine (root or sudo):
#   chromium   — ships SwiftShader's Vulkan ICD, the software GPU Dawn runs on where there is no GPU
#                (tools/with-swiftshader.sh points Vulkan at it)
#   libvulkan1 — the Vulkan loader that Dawn's Node bindings (npm 'webgpu') open
# then the npm packages (puppeteer's own browser download is skipped: Debian's chromium is used).
# The tests need more (PyTorch): tools/setup.sh runs this script and adds it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
export PUPPETEER_SKIP_DOWNLOAD=true
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v chromium >/dev/null || ! dpkg -s libvulkan1 >/dev/null 2>&1; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q -o DPkg::Lock::Timeout=900 chromium libvulkan1
fi
npm ci --no-audit --no-fund
