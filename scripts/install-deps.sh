#!/usr/bin/env bash
# Installs the Debian packages nasd builds and runs against, if any is missing.
# Needs root (or sudo); a no-op when everything is already installed.
set -euo pipefail

packages=(
  libdnnl-dev            # oneDNN: training and CPU inference kernels
  libgsl-dev             # GSL: random streams, statistics, least squares
  libopenblas-dev        # OpenBLAS: the CBLAS GSL is linked against
  libvulkan-dev          # the Vulkan loader
  mesa-vulkan-drivers    # lavapipe, a CPU Vulkan device, where no GPU is present
  glslc                  # GLSL → SPIR-V compiler for the Vulkan engine
  dataset-fashion-mnist  # the proxy task's data
  zlib1g-dev             # reading the gzipped IDX files
  libsqlite3-dev         # SQLite, under GRDB (latency table, run store)
  binutils               # readelf, used by the tests to check the BLAS link order
  librsvg2-bin           # rsvg-convert, used by the tests to render pareto.svg
  chromium               # a real browser, in which the tests drive the daemon's dashboard
  chromium-driver        # WebDriver for it (Selenium, in the build's Python environment)
  postgresql             # a real server for the PostgreSQL run store's tests (a private cluster each run)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
