#!/usr/bin/env bash
# make test-gpu: the tests that need an NVIDIA GPU, on a machine that has one.
# 1. builds the CUDA ops of autola_mm for the local GPU's architecture in place
#    (autola_mm/ops/_ext*.so, CPU kernels included), as `pip install -e .` does;
# 2. runs the device-parametrised tests on CUDA (op and module tests, every
#    dtype; in parallel where pytest-xdist is installed), and one --amp
#    training iteration of configs/faster_rcnn_r50_fpn_hoga_1x.py on
#    ../shared/data/coco_sample where mmdet, mmpretrain and mmcv's compiled
#    ops are installed;
# 3. runs tools/analysis/benchmark_attention.py --device cuda;
# and ends with one summary line. Exits 2 at once where torch sees no GPU.
# The interpreter is the venv's ($AUTOLA_VENV, made by `make setup`), or
# $AUTOLA_PYTHON as it is (a machine without a package registry: its torch,
# with mmengine and mmcv importable, e.g. on PYTHONPATH; no setup runs).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${AUTOLA_PYTHON:-${AUTOLA_VENV:-.venv}/bin/python}
start=$(date +%s)
step() { printf '\n[test-gpu %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if ! gpu=$("$PY" -c 'import torch, sys
if not torch.cuda.is_available():
    sys.exit(1)
print(torch.cuda.get_device_name(), "sm_%d%d" % torch.cuda.get_device_capability())'); then
    echo "make test-gpu: torch $("$PY" -c 'import torch; print(torch.__version__)') sees no" \
        "CUDA device on this machine; it needs an NVIDIA GPU and its driver" \
        "(nvidia-smi must list one). The CPU tests are 'make test'." >&2
    exit 2
fi
if [ -n "${AUTOLA_PYTHON:-}" ]; then
    # autola_mm is not installed there: the tests and tools/ import it from here.
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
arch=$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')

step "building the CUDA ops for $gpu (TORCH_CUDA_ARCH_LIST=$arch)"
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda} FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=$arch \
    MAX_JOBS=$(nproc) "$PY" setup.py -q build_ext --inplace

selection=(tests/test_ops tests/test_models -k cuda)
if "$PY" -c 'import mmdet, mmpretrain, mmcv.ops' 2>/dev/null; then
    selection+=(tests/test_tools/test_train_one_iteration.py::test_detection_hoga_amp_on_cuda)
    step "device tests on CUDA, and one --amp training iteration of the Faster R-CNN HOGA config"
else
    step "device tests on CUDA (no --amp detection iteration: mmdet, mmpretrain or mmcv's" \
        "compiled ops are not installed)"
fi
workers=(-p no:xdist)
if "$PY" -c 'import xdist' 2>/dev/null; then
    workers=(-n "$(( $(nproc) < 8 ? $(nproc) : 8 ))")
fi
log=$(mktemp)
set +e
# setup.cfg's addopts hold -q already: a second one (-qq) drops pytest's count line.
"$PY" -m pytest "${selection[@]}" "${workers[@]}" -p no:benchmark 2>&1 | tee "$log"
tests_status=${PIPESTATUS[0]}
set -e
tests=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed).* =+$' "$log" | tail -1 | tr -d '=' || true)

step "benchmark_attention.py --device cuda"
bench=$(mktemp)
"$PY" tools/analysis/benchmark_attention.py --device cuda --rounds 5 | tee "$bench"
headline=$(tail -1 "$bench")

echo
echo "test-gpu summary: $gpu; tests:${tests:- none ran} (exit $tests_status); $headline;" \
    "$(($(date +%s) - start)) s"
exit "$tests_status"
