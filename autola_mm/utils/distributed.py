"""Multi-process training on machines without CUDA (gloo process group).

mmengine's launchers call ``torch.cuda.set_device`` before they create the
process group, and its default model wrapper passes ``device_ids=[LOCAL_RANK]``
to ``DistributedDataParallel``; both fail on a CPU-only machine. The tools of
AutoLA (Ma et al., "Auto Learning Attention", NeurIPS 2020) therefore create a
gloo process group themselves when CUDA is absent (the Runner then skips its
own initialisation) and wrap the model without device ids. Machines with CUDA
keep mmengine's own path untouched.

Under ``torchrun`` the gloo group rendezvouses in a store namespace of its own
for each restart of the workers (see :func:`init_cpu_distributed`), and every
tool ends its run with :func:`close_distributed`.
"""
import logging
import os
import subprocess
import sys
import time
from datetime import timedelta
from typing import Dict

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
DEFAULT_MASTER_PORT = '29500'
RESTART_TIMEOUT_ENV = 'AUTOLA_RESTART_TIMEOUT'
DEFAULT_RESTART_TIMEOUT = 300


class RestartRendezvousError(RuntimeError):
    """Workers restarted by torchrun did not form their process group again."""


def elastic_restart_count() -> int:
    """How often torchrun restarted this worker (``TORCHELASTIC_RESTART_COUNT``, 0 if unset)."""
    return int(os.environ.get('TORCHELASTIC_RESTART_COUNT', '0'))


def restart_timeout() -> timedelta:
    """How long a restarted worker waits for the others: ``AUTOLA_RESTART_TIMEOUT``
    seconds (default 300).

    Raises:
        ValueError: When the variable is not a number of seconds above 0.
    """
    value = os.environ.get(RESTART_TIMEOUT_ENV, str(DEFAULT_RESTART_TIMEOUT))
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ValueError(f'{RESTART_TIMEOUT_ENV}={value!r}: give the seconds restarted '
                         'workers wait for each other, a number above 0 (e.g. 300)')
    return timedelta(seconds=seconds)


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

    Under torchrun the group meets in a namespace of torchrun's store of its
    own for every restart of the workers; restarted workers that do not all
    come back within ``AUTOLA_RESTART_TIMEOUT`` seconds raise
    :class:`RestartRendezvousError`.

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
    rank, world_size = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    if launcher == 'pytorch' and os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True':
        _init_elastic_gloo(rank, world_size)
    else:
        torch_dist.init_process_group(backend='gloo', rank=rank, world_size=world_size)
    return True


def _attempt_store(timeout: timedelta) -> torch_dist.Store:
    """A client of torchrun's store whose keys belong to this attempt of the workers.

    torchrun's static rendezvous (``tools/dist_train.sh``) keeps one store for
    all restarts, and torch gives the workers of every attempt the same keys:
    restarted gloo workers read the addresses of the killed ones and fail to
    connect ("Connection refused"). The restart count in the keys gives each
    attempt a rendezvous of its own.
    """
    client = torch_dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']),
                                 is_master=False, timeout=timeout)
    return torch_dist.PrefixStore(f'autola_mm/attempt_{elastic_restart_count()}', client)


def _wait_for_all(store: torch_dist.Store, world_size: int, timeout: timedelta) -> None:
    """Return once all ``world_size`` processes reached ``store``.

    Raises:
        TimeoutError: When some have not within ``timeout``.
    """
    deadline = time.monotonic() + timeout.total_seconds()
    joined = store.add('joined', 1)
    while joined < world_size and time.monotonic() < deadline:
        time.sleep(0.2)
        joined = store.add('joined', 0)
    if joined < world_size:
        raise TimeoutError(f'{joined} of {world_size} workers came back')


def _init_elastic_gloo(rank: int, world_size: int) -> None:
    """Create the gloo group of a process started by torchrun, on any restart.

    Restarted workers (``TORCHELASTIC_RESTART_COUNT`` > 0) wait at most
    :func:`restart_timeout` for each other: workers of another node that did
    not restart, or a dead agent, end in :class:`RestartRendezvousError`
    instead of a silent wait of half an hour.
    """
    restarts = elastic_restart_count()
    if not restarts:
        store = _attempt_store(torch_dist.default_pg_timeout)
        torch_dist.init_process_group(backend='gloo', store=store, rank=rank,
                                      world_size=world_size)
        return
    timeout = restart_timeout()
    try:
        store = _attempt_store(timeout)
        _wait_for_all(store, world_size, timeout)
        torch_dist.init_process_group(backend='gloo', store=store, rank=rank,
                                      world_size=world_size)
    except (RuntimeError, TimeoutError) as error:
        cause = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise RestartRendezvousError(
            f'rank {rank}: torchrun restarted the workers (TORCHELASTIC_RESTART_COUNT='
            f'{restarts}) but they did not form their process group again within '
            f'{timeout.total_seconds():g} s: {cause}. Stop the job and relaunch it with '
            '--resume: it continues from the last checkpoint of the work dir '
            f'({RESTART_TIMEOUT_ENV} sets the wait in seconds)') from None


def close_distributed(launcher: str, end_process: bool = False) -> None:
    """End a tool's run: wait for every process, destroy the process group, and
    (``end_process``) end the process without Python's teardown.

    A gloo work thread releases a finished collective after the caller has
    moved on; when the tensors it held had lost their last Python reference,
    the release takes the GIL. Started while the interpreter finalizes (after
    the last collective of a run), that release found Python finalizing,
    CPython ended the thread with ``pthread_exit`` and its unwinding through a
    C++ destructor called ``std::terminate``: "terminate called without an
    active exception", SIGABRT, a failed torchrun after a finished training.
    The barrier (its tensor lives in C++ only) keeps every process alive until
    all are done, and the group is destroyed before the interpreter's teardown;
    but that narrows the window without closing it. torch keeps the process
    group of a DistributedDataParallel model alive after
    ``destroy_process_group`` (torch 2.14: its two ``pt_gloo_runloop`` threads
    and its transport thread still run after the wrapper is deleted and
    collected), and with the barrier alone one two-process training in about
    twenty still died in the teardown (``test_distributed_exit``: 4 of 18 runs
    of five trainings failed). A tool run as a script passes
    ``end_process=True``: the logging handlers are flushed and closed, the
    standard streams flushed, and the process exits with status 0 through ``os._exit``,
    before any thread can meet a finalizing interpreter. The run's checkpoints,
    logs and visualisation data are written and closed by then (mmengine's
    ``LoggerHook`` closes the visualizer after the run).

    Args:
        launcher (str): The tool's ``--launcher``; ``none`` leaves any group
            (one a caller created) alone and never ends the process.
        end_process (bool): End the process once the group is destroyed
            (the tools pass ``__name__ == '__main__'``). Default: False.
    """
    if launcher == 'none' or not torch_dist.is_initialized():
        return
    torch_dist.barrier()
    torch_dist.destroy_process_group()
    if end_process:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def use_cpu_model_wrapper(cfg: Config) -> None:
    """Wrap the model in DDP without device ids, as CPU modules require.

    Keeps the wrapper type and options a config already names (for example
    ``find_unused_parameters``) and overrides only what CPU DDP rejects.

    Args:
        cfg (Config): The config to edit in place.

    Raises:
        ValueError: When the config asks for ``sync_bn``: torch's
            SyncBatchNorm runs in GPU modules only.
    """
    if cfg.get('sync_bn'):
        raise ValueError(f"sync_bn={cfg.sync_bn!r}: torch's SyncBatchNorm runs in GPU modules "
                         'only, and this machine trains on the CPU; drop it with '
                         '--cfg-options sync_bn=None (each process then normalises its own batch)')
    wrapper = dict(type='MMDistributedDataParallel',
                   find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.update(cfg.get('model_wrapper_cfg') or {})
    wrapper.update(device_ids=None, broadcast_buffers=False)
    cfg.model_wrapper_cfg = wrapper

