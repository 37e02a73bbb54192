#!/usr/bin/env bash
# Create or update the project's virtual environment with the mm stack that
# works on a CPU machine (torch 2.14.1, mmcv 2.1.0 built with its CPU ops,
# mmdet, mmpose, mmpretrain), then install autola_mm in editable mode.
#
# Environment:
#   AUTOLA_VENV         the virtual environment (default: .venv)
#   AUTOLA_WHEEL_CACHE  where the mmcv wheel is kept between runs
#                       (default: ~/.cache/autola_mm/wheels)
#   PYTHON              the interpreter that creates the venv (default: python3.11)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${AUTOLA_VENV:-.venv}
CACHE=${AUTOLA_WHEEL_CACHE:-$HOME/.cache/autola_mm/wheels}
CONSTRAINTS=requirements/constraints.txt
STAMP=$VENV/.autola_setup_stamp

step() { printf '\n[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
pin() { sed -n "s/^$1==//p" "$CONSTRAINTS"; }

if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
PY="$(cd "$VENV" && pwd)/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
# pip names every extra index it finds no page for; keep the log to what matters.
quiet_pip() { "${PIP[@]}" "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }

fingerprint=$(cat requirements/*.txt tools/setup_env.sh setup.py | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$fingerprint" ]; then
    step "dependencies are up to date ($STAMP); building autola_mm"
else
    step "torch $(pin torch) and torchvision $(pin torchvision)"
    quiet_pip install -q -c "$CONSTRAINTS" torch torchvision -r requirements/build.txt

    step "mmengine and the runtime requirements"
    quiet_pip install -q -c "$CONSTRAINTS" -r requirements/runtime.txt -r requirements/tests.txt

    mmcv_version=$(pin mmcv)
    torch_version=$(pin torch)
    wheel_dir="$CACHE/torch-$torch_version-$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
    mkdir -p "$wheel_dir"
    if ! ls "$wheel_dir"/mmcv-"$mmcv_version"-*.whl >/dev/null 2>&1; then
        step "building mmcv $mmcv_version with its CPU ops into $wheel_dir (once per machine; ~20 min on 2 cores)"
        work="$CACHE/build-mmcv-$mmcv_version"
        rm -rf "$work" && mkdir -p "$work"
        quiet_pip download -q --no-deps --no-binary :all: --no-build-isolation \
            "mmcv==$mmcv_version" -d "$work"
        tar xzf "$work/mmcv-$mmcv_version.tar.gz" -C "$work"
        # torch 2.14's headers need C++20; mmcv 2.1.0 asks for C++14/17.
        sed -i 's/-std=c++1[47]/-std=c++20/g' "$work/mmcv-$mmcv_version/setup.py"
        log="$wheel_dir/mmcv-$mmcv_version-build.log"
        echo "[setup] full compiler output: $log"
        if ! (cd "$work/mmcv-$mmcv_version" &&
            env -u FORCE_CUDA MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" \
                "${PIP[@]}" wheel -v --no-build-isolation --no-deps . -w "$wheel_dir" 2>&1) |
            tee "$log" | grep --line-buffered -oE '\[[0-9]+/[0-9]+\]' |
            while read -r progress; do echo "[setup $(date +%H:%M:%S)] mmcv compile $progress"; done ||
            ! ls "$wheel_dir"/mmcv-"$mmcv_version"-*.whl >/dev/null 2>&1; then
            tail -n 40 "$log" >&2
            echo "[setup] the mmcv build failed; the log above ends $log" >&2
            exit 1
        fi
        rm -rf "$work"
    fi
    step "mmcv $mmcv_version from $wheel_dir"
    quiet_pip install -q -c "$CONSTRAINTS" --find-links "$wheel_dir" "mmcv==$mmcv_version"

    step "mmdet, mmpretrain, mmpose (mmpose without chumpy), optional tools and the deploy extra"
    quiet_pip install -q -c "$CONSTRAINTS" mmdet mmpretrain -r requirements/mmpose_deps.txt \
        -r requirements/optional.txt -r requirements/deploy.txt
    quiet_pip install -q -c "$CONSTRAINTS" --no-deps mmpose
    echo "$fingerprint" > "$STAMP.pending"
fi

step "autola_mm (editable)"
quiet_pip install -q --no-build-isolation --no-deps -e .
[ -f "$STAMP.pending" ] && mv "$STAMP.pending" "$STAMP"

"$PY" - <<'PY'
import mmcv, mmdet, mmengine, mmpose, mmpretrain, torch
print(f"[setup] ready: torch {torch.__version__}, mmengine {mmengine.__version__}, "
      f"mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, mmpose {mmpose.__version__}, "
      f"mmpretrain {mmpretrain.__version__}")
PY
