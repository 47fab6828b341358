#!/usr/bin/env bash
# Set up and run every test on a fresh machine (the README's test command; .ci/run runs it).
#
#   bash scripts/test.sh [pytest arguments]
#
# 1. Installs what the tests need and is not a Python package, from Debian, when absent:
#    Chromium (browser tests) and HAProxy (the two-replica deployment test).
# 2. Installs the pinned Python requirements and test tools.
# 3. Runs pytest over tests/ (or over the arguments given) with NumPy's default dispatch.
# 4. Runs the tests marked `numerical` twice more with NumPy's SIMD dispatch steered, so that a
#    test which only passes with this CPU's loops fails here and not on a user's machine:
#      - without AVX-512 ("X86_V4 AVX512_ICL AVX512_SPR" disabled): the loops an AVX2 machine
#        runs (skipped, with a message, on a CPU without AVX-512: that is the default run);
#      - without anything NumPy dispatches to beyond its baseline (on x86-64: X86_V3, i.e.
#        AVX2/FMA, and the AVX-512 sets): NumPy's baseline loops only.
#    Feature names this NumPy build does not dispatch are dropped with a message (NumPy itself
#    would only print an ImportWarning and disable nothing), and the script checks that the
#    features really are off before each pass. Set ADAMEM_DISPATCH_PASSES=0 to skip step 4.
# Any pytest failure fails the script, including exit code 5 (no tests collected).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
# (the optimizers' fused path compiles C++ kernels through torch.compile's inductor)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing Debian packages for the browser, deployment and compile tests: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== installing Python requirements (pinned; torch is the CPU build)"
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

# run_pytest LABEL ARGS...: pytest, where "no tests collected" (exit 5) is a failure too
run_pytest() {
  local label="$1"; shift
  local rc=0
  python -m pytest "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "!! ${label}: pytest collected no tests (exit 5): the selection is wrong" >&2
    exit 5
  elif [ "$rc" -ne 0 ]; then
    echo "!! ${label}: pytest failed (exit ${rc})" >&2
    exit "$rc"
  fi
}

echo "== running the tests (NumPy's default dispatch)"
run_pytest "full run" "$@"

if [ "${ADAMEM_DISPATCH_PASSES:-1}" = "0" ]; then
  echo "== NumPy dispatch passes skipped (ADAMEM_DISPATCH_PASSES=0)"
  exit 0
fi

# dispatch_plan "NAMES": prints the names to disable (known to this build, present on this CPU),
# or nothing when the pass would run exactly the default run's loops; explains on stderr.
dispatch_plan() {
  python - "$1" <<'PY'
import sys
from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__
asked = sys.argv[1].split()
if asked == ["ALL"]:            # baseline only: every feature this build dispatches to
    asked = list(__cpu_dispatch__)
unknown = [n for n in asked if n not in __cpu_dispatch__ and n not in __cpu_baseline__]
baseline = [n for n in asked if n in __cpu_baseline__]
if unknown:
    print(f"   (this NumPy build does not dispatch {' '.join(unknown)}; dropped)", file=sys.stderr)
if baseline:
    print(f"   ({' '.join(baseline)} is in this build's baseline and cannot be disabled; dropped)",
          file=sys.stderr)
known = [n for n in asked if n in __cpu_dispatch__]
on_cpu = [n for n in known if __cpu_features__.get(n)]
if known and not on_cpu:
    print(f"   (this CPU has none of {' '.join(known)}: the default run already used the "
          "loops this pass would use)", file=sys.stderr)
print(" ".join(on_cpu))
PY
}

# check_disabled "NAMES": with NPY_DISABLE_CPU_FEATURES set, NumPy imports without a warning and
# reports every one of NAMES as off
check_disabled() {
  NPY_DISABLE_CPU_FEATURES="$1" python -W error - "$1" <<'PY'
import sys
from numpy._core._multiarray_umath import __cpu_features__
still_on = [n for n in sys.argv[1].split() if __cpu_features__.get(n)]
if still_on:
    sys.exit(f"NPY_DISABLE_CPU_FEATURES did not disable {still_on}")
PY
}

for asked in "X86_V4 AVX512_ICL AVX512_SPR" ALL; do
  echo "== numerical tests with NPY_DISABLE_CPU_FEATURES=\"${asked}\""
  disable="$(dispatch_plan "$asked")"
  if [ -z "$disable" ]; then
    echo "   skipped: nothing to disable on this machine (see above)"
    continue
  fi
  check_disabled "$disable"
  echo "   disabling: ${disable}"
  NPY_DISABLE_CPU_FEATURES="$disable" run_pytest "numerical tests without ${disable}" \
    -m numerical -q tests
done
