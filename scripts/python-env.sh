#!/usr/bin/env bash
# Creates the Python environment the verifiers run in: a virtual environment
# inside the build folder (never the system's Python), with the real
# runtimes exported models are checked against (onnxruntime, ncnn), and Selenium,
# which drives the dashboard test's browser, and schemathesis, which fuzzes the
# daemon's API against its openapi.yaml. Prints the interpreter's path.
# A no-op when the environment already holds the pinned packages.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.build/venv
requirements=(onnxruntime==1.32.0 onnx==1.23.2 ncnn==1.0.20261020 numpy==2.4.6 selenium==4.50.0 schemathesis==4.32.5)
stamp="$venv/.nasd-requirements"

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${requirements[*]}" ]; then
  echo "$venv/bin/python"
  exit 0
fi

rm -rf "$venv"
mkdir -p .build
# `python3` may be a pyenv shim or Debian's; either makes a venv when its venv module is complete.
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  rm -rf "$venv"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  /usr/bin/python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}" >&2
echo "${requirements[*]}" > "$stamp"
echo "$venv/bin/python"
