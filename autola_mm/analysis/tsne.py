"""Barnes-Hut t-SNE of pooled stage features (van der Maaten, JMLR 2014).

AutoLA's supplement (Ma et al., NeurIPS 2020) embeds the globally pooled
last-stage features of its CIFAR models in 2-D to show how well HOGA separates
the classes. The embedding comes from openTSNE or scikit-learn, both with the
Barnes-Hut approximation of the gradient.
"""
from typing import Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .input_errors import AnalysisInputError
from .stages import stage_outputs

BACKENDS = ('opentsne', 'sklearn')


def pooled_stage_features(model: nn.Module, loader: DataLoader,
                          stage: str, stage_module: nn.Module) -> Tuple[np.ndarray, np.ndarray]:
    """Globally average-pooled features of one stage over a dataset.

    Args:
        model (nn.Module): An mm classifier in eval mode.
        loader (DataLoader): Batches with ``gt_label`` data samples.
        stage (str): Name of the stage.
        stage_module (nn.Module): The stage.

    Returns:
        tuple[np.ndarray, np.ndarray]: Features (N, C) float32 and labels
        (N,) int64.
    """
    features, labels = [], []
    for outputs, batch_labels in stage_outputs(model, loader, {stage: stage_module}):
        output = outputs[stage]
        features.append(output.reshape(*output.shape[:2], -1).mean(dim=2))
        labels.append(batch_labels)
    return (torch.cat(features).numpy().astype(np.float32),
            torch.cat(labels).numpy().astype(np.int64))


def check_perplexity(perplexity: float, num_samples: int) -> None:
    """Refuse a perplexity that ``num_samples`` points cannot support.

    Args:
        perplexity (float): Effective number of neighbours.
        num_samples (int): Points to embed; t-SNE needs more than
            ``3 * perplexity``.
    """
    if perplexity <= 0 or num_samples <= 3 * perplexity:
        raise AnalysisInputError(f't-SNE with perplexity {perplexity} needs more than '
                                 f'{3 * perplexity:g} samples, got {num_samples}; lower '
                                 '--perplexity or use more samples')


def barnes_hut_tsne(features: np.ndarray,
                    perplexity: float = 30.0,
                    seed: int = 0,
                    backend: str = 'opentsne') -> np.ndarray:
    """Embed features in 2-D with Barnes-Hut t-SNE.

    Args:
        features (np.ndarray): Shape (N, C).
        perplexity (float): Effective number of neighbours; needs
            ``N > 3 * perplexity``. Defaults to 30.
        seed (int): Seed of the initialisation. Defaults to 0.
        backend (str): ``opentsne`` or ``sklearn``. Defaults to ``opentsne``.

    Returns:
        np.ndarray: Shape (N, 2), float64.
    """
    if backend not in BACKENDS:
        raise ValueError(f'unknown t-SNE backend {backend!r}; use one of '
                         f'{", ".join(BACKENDS)}')
    if features.ndim != 2:
        raise ValueError(f'features must have shape (samples, channels), got '
                         f'{features.shape}')
    check_perplexity(perplexity, features.shape[0])
    features = np.asarray(features, dtype=np.float64)
    if backend == 'opentsne':
        from openTSNE import TSNE
        embedding = TSNE(n_components=2, perplexity=perplexity,
                         negative_gradient_method='bh', random_state=seed,
                         n_jobs=1).fit(features)
    else:
        from sklearn.manifold import TSNE
        embedding = TSNE(n_components=2, perplexity=perplexity, method='barnes_hut',
                         init='pca', random_state=seed).fit_transform(features)
    return np.asarray(embedding, dtype=np.float64)
