#!/usr/bin/env bash
# Set up and run every test on a fresh machine (the README's test command; .ci/run runs it).
# Installs: Debian's Chromium for the browser tests (when absent), then the pinned Python
# requirements and test tools, then runs pytest over tests/.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Chromium (Debian package) for the end-to-end browser tests"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

echo "== installing Python requirements (pinned; torch is the CPU build)"
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

echo "== running the tests"
python -m pytest "$@"
