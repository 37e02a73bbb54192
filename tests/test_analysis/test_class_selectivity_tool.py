"""tools/analysis/class_selectivity.py end to end on tiny models and data."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tool_loading import load_tool

from autola_mm.analysis import figures, load_model
from autola_mm.datasets import LocalCIFAR10


def _reference_indices(config, checkpoint, data_root):
    """Per stage, the index from the stage outputs of all images at once, class by class."""
    model, _ = load_model(config, checkpoint, {'model.backbone.out_indices': (0, 1, 2)})
    dataset = LocalCIFAR10(data_root=str(data_root), split='test',
                           pipeline=[dict(type='PackInputs')])
    samples = [dataset[index] for index in range(len(dataset))]
    labels = np.array([int(sample['data_samples'].gt_label) for sample in samples])
    data = model.data_preprocessor(dict(inputs=[sample['inputs'] for sample in samples]))
    with torch.no_grad():
        outputs = model.extract_feat(data['inputs'], stage='backbone')
    indices = {}
    for stage, output in enumerate(outputs):
        features = output.mean(dim=(2, 3)).double().numpy()
        means = np.stack([features[labels == k].mean(axis=0) for k in range(10)])
        top = means.max(axis=0)
        rest = (means.sum(axis=0) - top) / 9
        with np.errstate(invalid='ignore', divide='ignore'):
            indices[f'layer{stage + 1}'] = np.where(top + rest > 0, (top - rest) / (top + rest), 0)
    return indices


def test_writes_csv_and_one_panel_per_stage(tiny_models, cifar_root, tmp_path):
    tool = load_tool('analysis/class_selectivity')
    plain, hoga = tiny_models['plain'], tiny_models['hoga']
    result = tool.main(['--model', *plain, 'plain', '--model', *hoga, 'HOGA',
                        '--out-dir', str(tmp_path)])

    layout = result['layout']
    assert (layout.rows, layout.cols) == (1, 3)
    png = np.asarray(Image.open(result['figure']))
    width_in, height_in = figures.SELECTIVITY_PANEL_INCHES
    assert png.shape[:2] == (height_in * figures.DPI, 3 * width_in * figures.DPI)
    assert png[..., :3].std() > 10  # drawn, not blank

    with open(result['csv']) as file:
        rows = list(csv.DictReader(file))
    widths = {'layer1': 16, 'layer2': 32, 'layer3': 64}
    assert len(rows) == 2 * sum(widths.values())
    for label, (config, checkpoint) in (('plain', plain), ('HOGA', hoga)):
        reference = _reference_indices(config, checkpoint, cifar_root)
        for stage, width in widths.items():
            values = [float(r['index']) for r in rows if (r['model'], r['stage']) == (label, stage)]
            assert len(values) == width
            np.testing.assert_allclose(values, reference[stage], atol=2e-6)
            assert all(0 <= v <= 1 for v in values)
    # Random weights already make some channels selective.
    assert max(float(r['index']) for r in rows) > 0.05


def test_max_samples_and_chosen_stages(tiny_models, tmp_path):
    result = load_tool('analysis/class_selectivity').main(
        ['--model', *tiny_models['plain'], '--stages', 'layer3', 'layer1',
         '--max-samples', '20', '--out-dir', str(tmp_path)])
    assert (result['layout'].rows, result['layout'].cols) == (1, 2)
    assert list(result['indices']['plain']) == ['layer3', 'layer1']
    assert len(result['indices']['plain']['layer3']) == 64
    assert Image.open(result['figure']).size == (2 * 400, 320)


def test_unknown_stage_lists_the_stages(tiny_models, tmp_path):
    from autola_mm.analysis import AnalysisInputError
    with pytest.raises(AnalysisInputError, match='^no stage layer4 in backbone PluginCifarResNet; '
                       'its stages are layer1, layer2, layer3$'):
        load_tool('analysis/class_selectivity').main(
            ['--model', *tiny_models['hoga'], '--stages', 'layer4', '--max-samples', '8',
             '--out-dir', str(tmp_path / 'out')])
    assert not (tmp_path / 'out').exists()


def test_rejects_a_checkpoint_of_another_config(tiny_models, tmp_path, capsys):
    from autola_mm.utils import CheckpointMismatchError
    hoga_config, _ = tiny_models['hoga']
    _, plain_checkpoint = tiny_models['plain']
    with pytest.raises(CheckpointMismatchError) as error:
        load_tool('analysis/class_selectivity').main(
            ['--model', *tiny_models['plain'], 'plain', '--model', hoga_config, plain_checkpoint,
             'HOGA', '--out-dir', str(tmp_path / 'out')])
    message = str(error.value)
    assert hoga_config in message and plain_checkpoint in message
    assert 'missing from the checkpoint' in message and 'backbone.' in message
    # The second model was checked before the first one was analysed.
    assert capsys.readouterr().out == ''
    assert not (tmp_path / 'out').exists()


def test_every_image_is_counted_once(tiny_models, cifar_root):
    """The stream sees each image of the split exactly once, in order."""
    from autola_mm.analysis import build_dataloader, iterate_batches
    model, cfg = load_model(*tiny_models['plain'])
    labels = torch.cat([batch_labels for _, batch_labels in
                        iterate_batches(model, build_dataloader(cfg, 'test'))])
    dataset = LocalCIFAR10(data_root=str(cifar_root), split='test')
    assert labels.tolist() == [item['gt_label'] for item in dataset.load_data_list()]
    assert len(labels) == 40


def test_command_line_exits_with_the_mismatch(tiny_models, tmp_path):
    """Run as a script, the tool stops with the message, not a traceback."""
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(filter(None, [str(repo), os.environ.get('PYTHONPATH')])))
    process = subprocess.run(
        [sys.executable, str(repo / 'tools' / 'analysis' / 'class_selectivity.py'),
         '--model', tiny_models['hoga'][0], tiny_models['plain'][1], '--out-dir', str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300)
    assert process.returncode == 1
    assert (f'\nerror: checkpoint {tiny_models["plain"][1]} does not match the model of '
            f'config {tiny_models["hoga"][0]}:\n') in '\n' + process.stderr
    assert 'Traceback' not in process.stderr
