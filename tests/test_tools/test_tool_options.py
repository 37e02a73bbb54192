"""Options of tools/train.py and tools/test.py, the data check they run first,
and the launch scripts' arguments."""
import os
import subprocess
from pathlib import Path

import pytest
from mmengine.config import Config
from tool_loading import load_tool
from tools_testkit import CONFIG_ROOT, REPO_ROOT

CIFAR_HOGA = CONFIG_ROOT / 'autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py'
SSD = CONFIG_ROOT / 'ssd/ssd300_r50_8xb16-65e_coco.py'
SIMPLEBASELINE = CONFIG_ROOT / 'simplebaseline/simplebaseline_r50_4xb32-140e_coco-256x192.py'


@pytest.fixture(scope='module')
def train_tool():
    return load_tool('train')


@pytest.fixture(scope='module')
def test_tool():
    return load_tool('test')


def train_cfg(train_tool, *argv):
    args = train_tool.parse_args([str(CIFAR_HOGA), *argv])
    cfg = train_tool.load_tool_config(args.config, args.cfg_options, args.work_dir,
                                      args.launcher)
    train_tool.apply_train_args(cfg, args)
    return cfg


def test_work_dir_resume_and_cfg_options(train_tool):
    cfg = train_cfg(train_tool)
    assert cfg.work_dir == './work_dirs/resnet20-hoga_4xb64-cos500e_cifar10'
    assert (cfg.resume, cfg.load_from, cfg.launcher) == (False, None, 'none')

    cfg = train_cfg(train_tool, '--work-dir', '/tmp/w', '--resume', '--cfg-options',
                    'train_cfg.max_epochs=3', 'model.backbone.depth=32')
    assert (cfg.work_dir, cfg.resume, cfg.load_from) == ('/tmp/w', True, None)
    assert (cfg.train_cfg.max_epochs, cfg.model.backbone.depth) == (3, 32)

    cfg = train_cfg(train_tool, '--resume', 'ckpt/epoch_3.pth')
    assert (cfg.resume, cfg.load_from) == (True, 'ckpt/epoch_3.pth')


def test_amp_switches_the_optimizer_wrapper_on_accelerators_only(train_tool, monkeypatch):
    monkeypatch.setattr(train_tool, 'get_device', lambda: 'cuda')
    cfg = train_cfg(train_tool, '--amp')
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.loss_scale) == ('AmpOptimWrapper',
                                                                      'dynamic')
    assert cfg.optim_wrapper.optimizer.lr == 0.1

    monkeypatch.setattr(train_tool, 'get_device', lambda: 'cpu')
    with pytest.raises(ValueError, match='--amp needs an accelerator'):
        train_cfg(train_tool, '--amp')


def test_auto_scale_lr(train_tool):
    assert train_cfg(train_tool).auto_scale_lr == dict(enable=False, base_batch_size=256)
    assert train_cfg(train_tool, '--auto-scale-lr').auto_scale_lr.enable is True
    with pytest.raises(KeyError, match='auto_scale_lr.base_batch_size'):
        train_cfg(train_tool, '--auto-scale-lr', '--cfg-options', 'auto_scale_lr=None')


def test_unknown_launcher_is_refused(train_tool, capsys):
    with pytest.raises(SystemExit):
        train_tool.parse_args([str(CIFAR_HOGA), '--launcher', 'ray'])
    assert "invalid choice: 'ray'" in capsys.readouterr().err


@pytest.mark.parametrize('config,switch,out_key', [
    (CIFAR_HOGA, 'enable', 'out_dir'),
    (SSD, 'draw', 'test_out_dir'),
    (SIMPLEBASELINE, 'enable', 'out_dir'),
])
def test_show_dir_turns_on_each_librarys_visualization(test_tool, config, switch, out_key):
    cfg = Config.fromfile(str(config))
    hook = cfg.default_hooks.visualization
    assert not hook.get(switch, False)
    test_tool.enable_show_dir(cfg, 'vis')
    assert (hook[switch], hook[out_key]) == (True, 'vis')


def test_show_dir_needs_a_known_visualization_hook(test_tool):
    cfg = Config(dict(default_hooks=dict(visualization=dict(type='MyHook'))))
    with pytest.raises(KeyError, match='the config has MyHook'):
        test_tool.enable_show_dir(cfg, 'vis')


def test_missing_data_stops_train_before_the_runner_is_built(train_tool, tmp_path):
    work_dir = tmp_path / 'work'
    with pytest.raises(SystemExit) as info:
        train_tool.main([
            str(CIFAR_HOGA), '--work-dir', str(work_dir), '--cfg-options',
            f'train_dataloader.dataset.data_root={tmp_path}/cifar10',
            f'val_dataloader.dataset.data_root={tmp_path}/cifar10'
        ])
    message = str(info.value.code)
    assert f"train_dataloader (CIFAR10): data root '{tmp_path}/cifar10' does not exist" in message
    assert f"val_dataloader (CIFAR10): data root '{tmp_path}/cifar10' does not exist" in message
    assert 'cifar-10-batches-py/{data_batch_1..5' in message and 'docs/data.md' in message
    assert not work_dir.exists()  # the Runner (which creates it) was never built


def test_missing_data_stops_test_naming_the_evaluator_file(test_tool, tmp_path):
    work_dir = tmp_path / 'work'
    with pytest.raises(SystemExit) as info:
        test_tool.main([str(SSD), 'epoch_65.pth', '--work-dir', str(work_dir), '--cfg-options',
                        f'test_dataloader.dataset.data_root={tmp_path}/coco/',
                        f'test_evaluator.ann_file={tmp_path}/coco/val.json'])
    message = str(info.value.code)
    assert (f"test_dataloader (CocoDataset): annotation file "
            f"'{tmp_path}/coco/annotations/instances_val2017.json' does not exist") in message
    assert f"test_evaluator: annotation file '{tmp_path}/coco/val.json'" in message
    assert 'COCO 2017' in message and 'docs/data.md' in message
    assert not work_dir.exists()


def run_script(script, *args, path_dir=None):
    env = dict(os.environ)
    if path_dir is not None:
        env['PATH'] = f'{path_dir}{os.pathsep}{env["PATH"]}'
    return subprocess.run(['bash', str(REPO_ROOT / 'tools' / script), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize('script,needed', [('dist_train.sh', 2), ('dist_test.sh', 3),
                                           ('slurm_train.sh', 4)])
def test_scripts_print_their_usage(script, needed):
    result = run_script(script, *['x'] * (needed - 1))
    assert result.returncode == 2
    assert result.stderr.startswith(f'usage: {REPO_ROOT}/tools/{script} ')


def test_slurm_train_runs_one_task_per_gpu_through_srun(tmp_path):
    fake_srun = tmp_path / 'srun'
    fake_srun.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$PYTHONPATH" "$@" > '
                         f'{tmp_path}/srun_args\n')
    fake_srun.chmod(0o755)
    result = subprocess.run(
        ['bash', str(REPO_ROOT / 'tools/slurm_train.sh'), 'gpu', 'hoga', 'cfg.py', 'wd',
         '--amp'],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PATH=f'{tmp_path}{os.pathsep}{os.environ["PATH"]}', GPUS='16',
                 SRUN_ARGS='--quotatype=auto --exclusive', PYTHON='py'))
    assert result.returncode == 0, result.stderr
    lines = Path(tmp_path / 'srun_args').read_text().splitlines()
    assert lines[0].split(os.pathsep)[0] == str(REPO_ROOT)
    assert lines[1:] == [
        '-p', 'gpu', '--job-name=hoga', '--gres=gpu:8', '--ntasks=16', '--ntasks-per-node=8',
        '--cpus-per-task=5', '--kill-on-bad-exit=1', '--quotatype=auto', '--exclusive', 'py',
        '-u', f'{REPO_ROOT}/tools/train.py', 'cfg.py', '--work-dir=wd', '--launcher', 'slurm',
        '--amp'
    ]


def test_cpu_model_wrapper_keeps_the_configs_wrapper_and_options():
    from autola_mm.utils import use_cpu_model_wrapper
    cfg = Config(dict(model_wrapper_cfg=dict(type='SearchDistributedDataParallel',
                                             device_ids=[0], broadcast_buffers=True)))
    use_cpu_model_wrapper(cfg)
    assert cfg.model_wrapper_cfg == dict(type='SearchDistributedDataParallel',
                                         find_unused_parameters=False, device_ids=None,
                                         broadcast_buffers=False)
    cfg = Config(dict(find_unused_parameters=True))
    use_cpu_model_wrapper(cfg)
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel',
                                         find_unused_parameters=True, device_ids=None,
                                         broadcast_buffers=False)


def test_sync_bn_on_the_cpu_is_refused_with_the_fix():
    from autola_mm.utils import use_cpu_model_wrapper
    with pytest.raises(ValueError, match=r"sync_bn='torch'.*--cfg-options sync_bn=None"):
        use_cpu_model_wrapper(Config(dict(sync_bn='torch')))


def test_rendezvous_of_each_launcher(monkeypatch, tmp_path):
    from autola_mm.utils import distributed
    monkeypatch.setattr(distributed.torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ValueError, match="unknown launcher 'ray'; accepted: none, pytorch"):
        distributed.init_cpu_distributed('ray')
    assert distributed.init_cpu_distributed('none') is False

    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'SLURM_LOCALID'):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(KeyError, match='RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT'):
        distributed.init_cpu_distributed('pytorch')

    monkeypatch.setenv('OMPI_COMM_WORLD_RANK', '3')
    monkeypatch.setenv('OMPI_COMM_WORLD_SIZE', '4')
    monkeypatch.setenv('OMPI_COMM_WORLD_LOCAL_RANK', '1')
    with pytest.raises(KeyError, match='MASTER_ADDR'):
        distributed._rendezvous_env('mpi')
    monkeypatch.setenv('MASTER_ADDR', 'node0')
    assert distributed._rendezvous_env('mpi') == dict(
        RANK='3', WORLD_SIZE='4', LOCAL_RANK='1', MASTER_ADDR='node0', MASTER_PORT='29500')

    scontrol = tmp_path / 'scontrol'
    scontrol.write_text('#!/usr/bin/env bash\necho node7; echo node8\n')
    scontrol.chmod(0o755)
    monkeypatch.setenv('PATH', f'{tmp_path}{os.pathsep}{os.environ["PATH"]}')
    monkeypatch.setenv('SLURM_NODELIST', 'node[7-8]')
    monkeypatch.setenv('SLURM_PROCID', '5')
    monkeypatch.setenv('SLURM_NTASKS', '16')
    monkeypatch.setenv('MASTER_PORT', '29611')
    assert distributed._rendezvous_env('slurm') == dict(
        RANK='5', WORLD_SIZE='16', LOCAL_RANK='0', MASTER_ADDR='node7', MASTER_PORT='29611')
