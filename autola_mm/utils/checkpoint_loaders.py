"""The checkpoint loaders every tool and config of AutoLA reads through.

``import autola_mm`` calls :func:`install_checkpoint_loaders`, which
registers two wrappers of mmengine's loaders with ``CheckpointLoader`` (its
extension point): local files are checked before ``torch.load``
(:mod:`.checkpoint_integrity`), downloads fail with one message
(:mod:`.offline_pretrained`). ``--resume``, ``load_from``, ``Pretrained``
init_cfgs, ``tools/test.py`` and the analysis tools all load through them.
:func:`exit_on_checkpoint_errors` ends a tool with the message alone.
"""
import contextlib
import sys
from typing import Iterator

from mmengine.config import Config
from mmengine.runner import CheckpointLoader
from mmengine.runner.checkpoint import load_from_http, load_from_openmmlab, load_from_torchvision

from .checkpoint_integrity import CorruptCheckpointError, load_from_local_file
from .offline_pretrained import PretrainedDownloadError, reporting_network_errors

#: mmengine's loaders of checkpoints it downloads, by the prefixes they serve.
DOWNLOADING_LOADERS = ((('http://', 'https://'), load_from_http),
                       (('modelzoo://', 'torchvision://'), load_from_torchvision),
                       (('open-mmlab://', 'openmmlab://'), load_from_openmmlab))


def install_checkpoint_loaders() -> None:
    """Register the checked local loader and the download loaders with mmengine."""
    CheckpointLoader.register_scheme('', load_from_local_file, force=True)
    for prefixes, loader in DOWNLOADING_LOADERS:
        CheckpointLoader.register_scheme(prefixes, reporting_network_errors(loader), force=True)


@contextlib.contextmanager
def exit_on_checkpoint_errors(cfg: Config) -> Iterator[None]:
    """End the process with ``error: <message>`` on a corrupt or undownloadable checkpoint.

    Args:
        cfg (Config): The run's config; a download error names the keys of
            its ``init_cfg``\\ s that load the checkpoint.
    """
    try:
        yield
    except CorruptCheckpointError as error:
        sys.exit(f'error: {error}')
    except PretrainedDownloadError as error:
        sys.exit(f'error: {error.in_config(cfg.get("model"))}')
