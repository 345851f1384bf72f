#!/usr/bin/env bash
# Installs what seqgpu's tests, bench and demo need on a fresh Debian machine (root or sudo):
# everything tools/setup-main.sh installs for the main job —
#   chromium   — headless browser for the browser tests and bench; ships SwiftShader's Vulkan ICD
#   libvulkan1 — the Vulkan loader that Dawn's Node bindings (npm 'webgpu') open
#   npm ci     — the npm packages (puppeteer's own browser download skipped: Debian's chromium is used)
# and for the tests
#   python3-torch (PyTorch 1.13) + libopenblas0-pthread — test/node/checkpoint.test.ts has PyTorch
#                load seqgpu's checkpoints (test/fixtures/load_checkpoint.py); without it that test fails
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! dpkg -s python3-torch >/dev/null 2>&1; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=900 python3-torch libopenblas0-pthread
fi
bash tools/setup-main.sh
