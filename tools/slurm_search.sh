#!/usr/bin/env bash
# Search a HOGA cell on a Slurm cluster: one task per GPU, started by srun.
#
# Usage: tools/slurm_search.sh PARTITION JOB_NAME CONFIG WORK_DIR [tools/search.py options]
# Environment (as in the OpenMMLab libraries):
#   GPUS (8): tasks in all; GPUS_PER_NODE (8); CPUS_PER_TASK (5);
#   SRUN_ARGS: more srun options; PYTHON (python).
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [tools/search.py options]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# SRUN_ARGS is split into words on purpose: it carries several srun options.
# shellcheck disable=SC2086
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$ROOT/tools/search.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher slurm "${@:5}"
