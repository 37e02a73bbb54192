"""Loading models and data for the analyses: checks and error messages."""
import pytest
import torch

from autola_mm.analysis import (AnalysisInputError, backbone_stages,
                                dataset_config, load_config, load_model,
                                parse_model_specs)
from autola_mm.utils import (CheckpointMismatchError, MissingCheckpointError,
                             checkpoint_state_dict, state_dict_mismatch)


def test_state_dict_mismatch_names_every_kind_of_difference():
    model = {'a.weight': torch.zeros(2, 3), 'b.weight': torch.zeros(4),
             'bn.num_batches_tracked': torch.tensor(0)}
    # A distributed wrapper's prefix is dropped from the checkpoint's keys.
    checkpoint = checkpoint_state_dict(
        dict(state_dict={'module.a.weight': torch.zeros(3, 3), 'c.bias': torch.zeros(1)}))
    assert list(checkpoint) == ['a.weight', 'c.bias']
    assert state_dict_mismatch(model, checkpoint) == dict(
        missing=['b.weight'], unexpected=['c.bias'],
        shape=['a.weight: (3, 3) in the checkpoint, (2, 3) in the model'])
    assert state_dict_mismatch(model, {'a.weight': torch.ones(2, 3),
                                       'b.weight': torch.ones(4)}) == dict(
                                           missing=[], unexpected=[], shape=[])


def test_loads_the_checkpoint_weights(tiny_models):
    config, checkpoint = tiny_models['hoga']
    model, cfg = load_model(config, checkpoint)
    saved = torch.load(checkpoint)['state_dict']
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[key])
    assert not model.training
    assert model.dataset_meta['classes'][3] == 'cat'
    assert list(backbone_stages(model)) == ['layer1', 'layer2', 'layer3']


def test_mismatch_error_lists_the_first_keys(tiny_models):
    plain_config, _ = tiny_models['plain']
    _, hoga_checkpoint = tiny_models['hoga']
    with pytest.raises(CheckpointMismatchError, match=f'{hoga_checkpoint} does not match '
                       f'the model of config {plain_config}') as error:
        load_model(plain_config, hoga_checkpoint)
    lines = str(error.value).splitlines()
    # How many keys differ, and the first 5 of them.
    assert any(line.endswith('not in the model, the first 5:') for line in lines)
    assert sum(line.startswith('    backbone.') and 'hoga' in line for line in lines) == 5


def test_shape_mismatch_from_cfg_options(tiny_models):
    with pytest.raises(CheckpointMismatchError, match=r'head.fc.weight: \(10, 64\) in the '
                       r'checkpoint, \(7, 64\) in the model'):
        load_model(*tiny_models['plain'], cfg_options={'model.head.num_classes': 7})


def test_model_specs():
    assert parse_model_specs([['a/plain.py', 'p.pth'], ['b/x.py', 'x.pth', 'HOGA']]) == [
        ('a/plain.py', 'p.pth', 'plain'), ('b/x.py', 'x.pth', 'HOGA')]
    with pytest.raises(AnalysisInputError,
                       match='CONFIG CHECKPOINT \\[LABEL\\], got 1 values: a.py'):
        parse_model_specs([['a.py']])
    with pytest.raises(AnalysisInputError, match='got same more than once'):
        parse_model_specs([['a.py', 'a.pth', 'same'], ['b.py', 'b.pth', 'same']])


def test_split_without_dataloader_lists_the_splits(tiny_models):
    cfg = load_config(tiny_models['plain'][0])
    with pytest.raises(AnalysisInputError, match='no val_dataloader; it has the splits test'):
        dataset_config(cfg, 'val')
    with pytest.raises(AnalysisInputError, match="unknown split 'dev'"):
        dataset_config(cfg, 'dev')


def test_missing_checkpoint_file_is_named(tiny_models, tmp_path):
    with pytest.raises(MissingCheckpointError,
                       match=f'^checkpoint {tmp_path}/epoch_8.pth does not exist$'):
        load_model(tiny_models['plain'][0], str(tmp_path / 'epoch_8.pth'))
