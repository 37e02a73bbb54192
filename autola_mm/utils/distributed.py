"""Multi-process training on machines without CUDA (gloo process group).

mmengine's launchers call ``torch.cuda.set_device`` before they create the
process group, and its default model wrapper passes ``device_ids=[LOCAL_RANK]``
to ``DistributedDataParallel``; both fail on a CPU-only machine. The tools of
AutoLA (Ma et al., "Auto Learning Attention", NeurIPS 2020) therefore create a
gloo process group themselves when CUDA is absent (the Runner then skips its
own initialisation) and wrap the model without device ids. Machines with CUDA
keep mmengine's own path untouched.
"""
import os
import subprocess
from typing import Dict

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
DEFAULT_MASTER_PORT = '29500'


def _slurm_env() -> Dict[str, str]:
    """Rendezvous variables of a task started by ``srun``."""
    node_list = os.environ['SLURM_NODELIST']
    master = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    return dict(RANK=os.environ['SLURM_PROCID'], WORLD_SIZE=os.environ['SLURM_NTASKS'],
                LOCAL_RANK=os.environ.get('SLURM_LOCALID', '0'), MASTER_ADDR=master)


def _mpi_env() -> Dict[str, str]:
    """Rendezvous variables of a process started by Open MPI's ``mpirun``."""
    if 'MASTER_ADDR' not in os.environ:
        raise KeyError('--launcher mpi needs the environment variable MASTER_ADDR '
                       '(the host of rank 0)')
    return dict(RANK=os.environ['OMPI_COMM_WORLD_RANK'],
                WORLD_SIZE=os.environ['OMPI_COMM_WORLD_SIZE'],
                LOCAL_RANK=os.environ['OMPI_COMM_WORLD_LOCAL_RANK'],
                MASTER_ADDR=os.environ['MASTER_ADDR'])


def _rendezvous_env(launcher: str) -> Dict[str, str]:
    """``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and master address of this process.

    Args:
        launcher (str): One of ``pytorch`` (``torchrun`` already set the
            variables), ``slurm`` or ``mpi``.

    Returns:
        dict[str, str]: The variables ``init_process_group('gloo')`` reads.
    """
    if launcher == 'pytorch':
        missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
                   if k not in os.environ]
        if missing:
            raise KeyError(f'--launcher pytorch needs {", ".join(missing)} in the '
                           'environment: start the tool with torchrun '
                           '(tools/dist_train.sh, tools/dist_test.sh)')
        return {}
    env = _slurm_env() if launcher == 'slurm' else _mpi_env()
    env.setdefault('MASTER_PORT', os.environ.get('MASTER_PORT', DEFAULT_MASTER_PORT))
    return env


def init_cpu_distributed(launcher: str) -> bool:
    """Create a gloo process group when ``launcher`` asks for one and CUDA is absent.

    Args:
        launcher (str): The tool's ``--launcher``: ``none``, ``pytorch``,
            ``slurm`` or ``mpi``.

    Returns:
        bool: True when this call created a gloo process group; False for
        ``none``, on CUDA machines (mmengine initialises NCCL itself) and
        when a process group already exists.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'unknown launcher {launcher!r}; accepted: {", ".join(LAUNCHERS)}')
    if launcher == 'none' or torch.cuda.is_available() or torch_dist.is_initialized():
        return False
    os.environ.update(_rendezvous_env(launcher))
    torch_dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                  world_size=int(os.environ['WORLD_SIZE']))
    return True


def use_cpu_model_wrapper(cfg: Config) -> None:
    """Wrap the model in DDP without device ids, as CPU modules require.

    Keeps the wrapper type and options a config already names (for example
    ``find_unused_parameters``) and overrides only what CPU DDP rejects.

    Args:
        cfg (Config): The config to edit in place.
    """
    wrapper = dict(type='MMDistributedDataParallel',
                   find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.update(cfg.get('model_wrapper_cfg') or {})
    wrapper.update(device_ids=None, broadcast_buffers=False)
    cfg.model_wrapper_cfg = wrapper

