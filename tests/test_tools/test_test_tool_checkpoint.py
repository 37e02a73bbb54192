"""tools/test.py refuses a checkpoint of another model before evaluating.

Checkpoints of ResNet-20 CIFAR configs (untrained weights, as a Runner saves
them) are paired with the right and the wrong configs; the data are 8
synthetic CIFAR-10 test images written here.
"""
import pytest
import torch
from tool_loading import load_tool
from tools_testkit import CONFIG_ROOT, cifar_body, derived_config, write_cifar10

from autola_mm.analysis import build_model, load_config
from autola_mm.utils.checkpoint_match import SHOWN_KEYS

PLAIN = CONFIG_ROOT / 'autola_cifar/resnet20_4xb64-cos500e_cifar10.py'
HOGA = CONFIG_ROOT / 'autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py'
# ResNet-20 + HOGA: 9 HOGA modules, each with many more weights than SHOWN_KEYS.
MANY = 9 * SHOWN_KEYS


@pytest.fixture(scope='module')
def pairs(tmp_path_factory):
    """Tiny configs of the plain and HOGA ResNet-20 and a checkpoint of each."""
    folder = tmp_path_factory.mktemp('checkpoints')
    root = write_cifar10(folder / 'cifar10', num_train=8, num_test=8)
    body = cifar_body(root, train_images=8, batch_size=4, max_epochs=1)
    files = {}
    for name, base in (('plain', PLAIN), ('hoga', HOGA)):
        config = derived_config(folder, name, base, body)
        torch.manual_seed(0)
        model = build_model(load_config(str(config)))
        checkpoint = folder / f'{name}.pth'
        torch.save(dict(meta=dict(), state_dict=model.state_dict()), checkpoint)
        files[name] = (str(config), str(checkpoint))
    return files


def refusal(config, checkpoint, work_dir, *options):
    """The message tools/test.py exits with; checks that nothing was evaluated."""
    with pytest.raises(SystemExit) as info:
        load_tool('test').main([config, checkpoint, '--work-dir', str(work_dir), *options])
    assert not list(work_dir.rglob('*.json'))  # no metrics were logged
    return str(info.value.code)


def test_unexpected_keys(pairs, tmp_path):
    message = refusal(pairs['plain'][0], pairs['hoga'][1], tmp_path)
    lines = message.splitlines()
    assert lines[0] == (f'error: checkpoint {pairs["hoga"][1]} does not match the model of '
                        f'config {pairs["plain"][0]}:')
    count = int(lines[1].split()[0])
    assert count > MANY
    assert lines[1] == f'  {count} keys not in the model, the first {SHOWN_KEYS}:'
    assert all(line.startswith('    backbone.layer1.0.hoga.') for line in lines[2:7])
    assert lines[7] == ('nothing was evaluated: give the checkpoint of this config, or add '
                        '--partial-load to evaluate with the weights that fit')
    assert len(lines) == 8 and max(map(len, lines)) < 200


def test_missing_keys(pairs, tmp_path):
    lines = refusal(pairs['hoga'][0], pairs['plain'][1], tmp_path).splitlines()
    assert lines[0].endswith(f'{pairs["plain"][1]} does not match the model of config '
                             f'{pairs["hoga"][0]}:')
    assert lines[1].endswith(f' keys missing from the checkpoint, the first {SHOWN_KEYS}:')
    assert int(lines[1].split()[0]) > MANY and len(lines) == 8


def test_size_mismatch(pairs, tmp_path):
    lines = refusal(pairs['plain'][0], pairs['plain'][1], tmp_path, '--cfg-options',
                    'model.head.num_classes=7').splitlines()
    assert lines[1:4] == ['  2 keys of another shape:',
                          '    head.fc.bias: (10,) in the checkpoint, (7,) in the model',
                          '    head.fc.weight: (10, 64) in the checkpoint, (7, 64) in the model']


def test_missing_checkpoint_file(pairs, tmp_path):
    missing = str(tmp_path / 'epoch_8.pth')
    assert refusal(pairs['plain'][0], missing, tmp_path / 'work') == (
        f'error: checkpoint {missing} does not exist')
    assert not (tmp_path / 'work').exists()  # stopped before the Runner was built


def test_matching_checkpoint_is_evaluated(pairs, tmp_path):
    metrics = load_tool('test').main([*pairs['hoga'], '--work-dir', str(tmp_path)])
    # 8 images, 10 classes: a multiple of 12.5 %.
    assert metrics['accuracy/top1'] % 12.5 == 0


def test_partial_load_evaluates_and_lists_the_first_keys(pairs, tmp_path, capsys):
    metrics = load_tool('test').main([pairs['plain'][0], pairs['hoga'][1], '--partial-load',
                                      '--work-dir', str(tmp_path)])
    assert 0 <= metrics['accuracy/top1'] <= 100
    output = capsys.readouterr()
    log = output.out + output.err
    assert f'--partial-load: checkpoint {pairs["hoga"][1]} does not match' in log
    assert 'keep their initial values' in log
    assert 'do not match exactly' not in log  # mmengine's own one-line list
    # One key a line, the first few only.
    assert max(line.count('.hoga.') for line in log.splitlines()) == 1
    assert sum('.hoga.' in line for line in log.splitlines()) == SHOWN_KEYS


def test_runner_logs_shorten_mmengines_key_lists(pairs, tmp_path, capsys):
    """A partial load meant as such (a Pretrained init_cfg) warns with counts too."""
    from mmengine.runner.checkpoint import load_state_dict

    from autola_mm.utils import build_runner, load_tool_config
    runner = build_runner(load_tool_config(pairs['plain'][0], None, str(tmp_path), 'none'))
    state = torch.load(pairs['hoga'][1])['state_dict']
    state['head.fc.weight'] = torch.zeros(3, 64)
    load_state_dict(runner.model, state, strict=False, logger='current')
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if 'do not match exactly' in line)
    report = lines[start + 1:start + 1 + 1 + SHOWN_KEYS]
    assert report[0].endswith(f' keys not in the model, the first {SHOWN_KEYS}:')
    assert all(line.startswith('    backbone.layer1.0.hoga.') for line in report[1:])
    assert max(line.count('.hoga.') for line in lines) == 1
    # torch's own line for a weight of another shape is kept as it is.
    assert any(line.startswith('size mismatch for head.fc.weight') for line in lines)
