"""Log and save the HOGA genotype an AutoLA search (Ma et al., NeurIPS 2020) derives.

Every epoch the hook logs the genotype the current ``alpha`` derives; at every
checkpoint and at the end it writes ``genotype.json`` (the file
``dict(type='HOGA', genotype=...)`` reads) and ``genotype.png`` into the work
dir, and records the genotype in the checkpoint's meta.
"""
import os.path as osp

from mmengine.dist import is_main_process, master_only
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


def search_model(runner):
    """The runner's search model, unwrapped from DDP; it must derive genotypes."""
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    if not (hasattr(model, 'genotype') and hasattr(model, 'alpha')):
        raise TypeError(f'{type(model).__name__} is not a search model: the search hooks need '
                        'an alpha and a genotype() (e.g. HOGASearchClassifier)')
    return model


@HOOKS.register_module()
class GenotypeHook(Hook):
    """Log the derived genotype every epoch; write it at checkpoints and at the end.

    Args:
        filename (str): Genotype file in the work dir. Default: ``genotype.json``.
        figure (str): Drawing of the cell in the work dir. Default: ``genotype.png``.
    """

    def __init__(self, filename: str = 'genotype.json', figure: str = 'genotype.png'):
        self.filename = filename
        self.figure = figure

    def before_train(self, runner) -> None:
        """Check that the runner trains a search model."""
        search_model(runner)

    def after_train_epoch(self, runner) -> None:
        """Log the genotype of this epoch."""
        genotype = search_model(runner).genotype()
        runner.logger.info(f'Epoch {runner.epoch + 1} genotype: {genotype}')
        runner.message_hub.update_info('genotype', str(genotype))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the genotype in the checkpoint's meta and write its files."""
        epoch = checkpoint['meta']['epoch']
        checkpoint['meta']['genotype'] = str(search_model(runner).genotype())
        self.write(runner, epoch)

    def after_train(self, runner) -> None:
        """Write the final genotype (rank 0 alone writes and says so)."""
        self.write(runner, runner.epoch)
        if is_main_process():
            runner.logger.info(f'Genotype written to {osp.join(runner.work_dir, self.filename)}')

    @master_only
    def write(self, runner, epoch: int) -> None:
        """Write ``genotype.json`` and ``genotype.png`` for ``epoch`` finished epochs."""
        model = search_model(runner)
        genotype = model.genotype()
        genotype.to_json(osp.join(runner.work_dir, self.filename),
                         meta=dict(epoch=epoch, alpha=model.alpha.detach().cpu().tolist()))
        from .search_plots import plot_genotype  # matplotlib only when drawing
        plot_genotype(genotype, osp.join(runner.work_dir, self.figure))
