"""Start the tools' processes as users do: free rendezvous ports, several
``torchrun`` nodes on this machine, exit checks that show the output."""
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
FAILURE_GRACE = 30


def free_port() -> int:
    """A TCP port nothing listens on, for a rendezvous on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_together(commands: Sequence[Sequence], envs: Sequence[Dict[str, str]],
                 timeout: float = 300) -> List[subprocess.CompletedProcess]:
    """Run the commands at the same time from the repository root, each with
    its environment (e.g. one ``tools/dist_train.sh`` per ``NODE_RANK``).

    Args:
        commands (Sequence[Sequence]): The command lines; their items are
            turned into str.
        envs (Sequence[dict]): The environment of each command.
        timeout (float): Seconds all of them may take together; then every
            process still running is killed with its children (its exit
            status is -9). Once one has failed, the others get
            ``FAILURE_GRACE`` seconds more.

    Returns:
        list[CompletedProcess]: Exit status and output (stdout and stderr
        together, in ``stdout``) of each, in the order of ``commands``.
    """
    if len(commands) != len(envs):
        raise ValueError(f'{len(commands)} commands but {len(envs)} environments')
    # The outputs go to files: a process blocked on a full pipe would stall
    # the rendezvous of the others.
    logs = [tempfile.TemporaryFile('w+') for _ in commands]
    processes = [
        subprocess.Popen([str(item) for item in command], cwd=REPO_ROOT, env=env,
                         stdout=log, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
        for command, env, log in zip(commands, envs, logs)
    ]
    deadline = time.monotonic() + timeout
    try:
        while any(process.poll() is None for process in processes) \
                and time.monotonic() < deadline:
            if any(process.poll() for process in processes):
                # One failed: the others would wait for it until their own timeouts.
                deadline = min(deadline, time.monotonic() + FAILURE_GRACE)
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                # torchrun's workers are in its session: end them with it.
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    results = []
    for process, log in zip(processes, logs):
        log.seek(0)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, log.read()))
        log.close()
    return results


def check_exit_ok(result: subprocess.CompletedProcess) -> None:
    """The process exited 0; otherwise fail with the end of its output."""
    assert result.returncode == 0, f'exit status {result.returncode}\n{result.stdout[-8000:]}'
