#!/usr/bin/env bash
# Train with GPUS processes per node, started by torchrun.
#
# Usage: tools/dist_train.sh CONFIG GPUS [tools/train.py options]
# Environment (as in the OpenMMLab libraries):
#   NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500),
#   MAX_RESTARTS (0): times torchrun restarts the workers after one fails;
#     a restarted worker resumes from the last checkpoint of its work dir,
#   AUTOLA_RESTART_TIMEOUT (300): seconds restarted workers wait for each other
#     before they stop and ask for a relaunch with --resume (docs/distributed.md),
#   PYTHON (python): the interpreter that has autola_mm and the mm libraries.
# On a machine without CUDA the processes train on the CPU over gloo.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [tools/train.py options]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$GPUS" \
    --max-restarts="${MAX_RESTARTS:-0}" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
