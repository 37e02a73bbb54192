"""tools/analysis/tsne.py end to end, and the pooled features it embeds."""
import numpy as np
import pytest
import torch
from PIL import Image
from tool_loading import load_tool

from autola_mm.analysis import (barnes_hut_tsne, build_dataloader, figures,
                                load_model, pooled_stage_features,
                                select_stages)
from autola_mm.datasets import LocalCIFAR10


def _check_outputs(output, label, true_labels):
    assert output['stage'] == 'layer3'
    embedding = np.load(output['embedding'])
    assert embedding.shape == (len(true_labels), 2) and np.isfinite(embedding).all()
    assert embedding.std(axis=0).min() > 0
    assert np.load(output['labels']).tolist() == true_labels
    assert (output['layout'].rows, output['layout'].cols) == (1, 1)
    width, height = figures.TSNE_INCHES
    assert Image.open(output['figure']).size == (width * figures.DPI, height * figures.DPI)
    assert output['figure'].endswith(f'tsne_{label}_layer3.png')


def _true_labels(cifar_root):
    dataset = LocalCIFAR10(data_root=str(cifar_root), split='test')
    return [item['gt_label'] for item in dataset.load_data_list()]


def test_one_2d_point_per_image(tiny_models, cifar_root, tmp_path):
    result = load_tool('analysis/tsne').main(
        ['--model', *tiny_models['plain'], 'plain', '--model', *tiny_models['hoga'], 'HOGA',
         '--perplexity', '5', '--out-dir', str(tmp_path)])
    assert set(result) == {'plain', 'HOGA'}
    for label, output in result.items():
        _check_outputs(output, label, _true_labels(cifar_root))


def test_scikit_learn_backend(tiny_models, cifar_root, tmp_path):
    result = load_tool('analysis/tsne').main(
        ['--model', *tiny_models['plain'], '--backend', 'sklearn', '--perplexity', '3',
         '--max-samples', '20', '--out-dir', str(tmp_path)])
    _check_outputs(result['plain'], 'plain', _true_labels(cifar_root)[:20])


def test_pooled_features_are_the_classifier_neck(tiny_models):
    """Last-stage features, averaged over positions, are what the head sees."""
    model, cfg = load_model(*tiny_models['hoga'])
    stage, module = next(reversed(select_stages(model).items()))
    features, labels = pooled_stage_features(model, build_dataloader(cfg, 'test', 12),
                                             stage, module)
    assert features.shape == (12, 64) and labels.shape == (12, )
    dataset = LocalCIFAR10(data_root=cfg.test_dataloader.dataset.data_root, split='test',
                           pipeline=[dict(type='PackInputs')])
    data = model.data_preprocessor(dict(inputs=[dataset[i]['inputs'] for i in range(12)]))
    with torch.no_grad():
        neck = model.extract_feat(data['inputs'], stage='neck')[-1]
    np.testing.assert_allclose(features, neck.numpy(), rtol=1e-5, atol=1e-6)


def test_perplexity_needs_enough_samples():
    with pytest.raises(ValueError, match='perplexity 30.0 needs more than 90 samples, got 40'):
        barnes_hut_tsne(np.zeros((40, 8)), perplexity=30.0)
    with pytest.raises(ValueError, match="unknown t-SNE backend 'exact'"):
        barnes_hut_tsne(np.zeros((40, 8)), perplexity=5, backend='exact')
