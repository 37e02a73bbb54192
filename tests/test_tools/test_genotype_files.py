"""A genotype file that does not exist: one line from every tool, before any build."""
import os

import pytest
from tool_loading import load_tool
from tools_testkit import CONFIG_ROOT, cifar_body, derived_config, write_cifar10

from autola_mm.utils import GenotypeFileError, check_genotype_files

CIFAR_HOGA = CONFIG_ROOT / 'autola_cifar/resnet20-hoga_4xb64-cos500e_cifar10.py'
KEY = 'model.backbone.plugins.0.cfg.genotype'
EXPECTED = (f"genotype file work_dirs/search/genotype.json ({KEY}) does not exist, relative to "
            f"the working directory {os.getcwd()}; tools/search.py writes "
            '<work_dir>/genotype.json, by default work_dirs/<search config name>/genotype.json '
            '(make demo: work_dirs/demo/search/genotype.json); see docs/search.md')


def test_the_message_says_where_searches_write():
    model = dict(backbone=dict(plugins=[dict(cfg=dict(type='HOGA',
                                                      genotype='work_dirs/search/genotype.json'))]))
    with pytest.raises(GenotypeFileError) as error:
        check_genotype_files(model)
    assert str(error.value) == EXPECTED
    # An absolute path needs no working directory.
    with pytest.raises(GenotypeFileError, match=r'^genotype file /nowhere/g.json \(model.'
                       r'head.genotype\) does not exist; tools/search.py'):
        check_genotype_files(dict(head=dict(genotype='/nowhere/g.json')))
    # A str without "op:slot" edges is a path too, whatever it ends with.
    with pytest.raises(GenotypeFileError, match=r'^genotype file searched/genotype \(model.neck'):
        check_genotype_files(dict(neck=dict(genotype='searched/genotype')))


def test_genotypes_that_are_not_files_pass(tmp_path):
    genotype = tmp_path / 'genotype.json'
    genotype.write_text('{}')  # only existence is checked here; HOGA reads the content
    check_genotype_files(dict(backbone=dict(plugins=[
        dict(cfg=dict(type='HOGA')),
        dict(cfg=dict(type='HOGA', genotype='skip_connect:0 | sep_conv_3x3:0 skip_connect:1')),
        dict(cfg=dict(type='HOGA', genotype=str(genotype))),
        dict(cfg=dict(type='HOGA', genotype=genotype))])))


@pytest.fixture(scope='module')
def config_with_missing_genotype(tmp_path_factory):
    """ResNet-20 + HOGA on 4 synthetic CIFAR images, its genotype the README's old path."""
    folder = tmp_path_factory.mktemp('genotype')
    root = write_cifar10(folder / 'cifar10', num_train=4, num_test=4)
    body = cifar_body(root, train_images=4, batch_size=2, max_epochs=1)
    body += ("model = dict(backbone=dict(plugins=[dict(cfg=dict(type='HOGA', "
             "genotype='work_dirs/search/genotype.json'), position='after_conv2')]))\n")
    return str(derived_config(folder, 'hoga_searched', CIFAR_HOGA, body))


@pytest.mark.parametrize('tool,argv', [
    ('train', []),
    ('test', ['epoch_500.pth']),
    ('analysis/get_flops', []),
])
def test_each_tool_stops_with_one_line(tool, argv, config_with_missing_genotype, tmp_path):
    work_dir = tmp_path / 'work'
    options = [] if tool == 'analysis/get_flops' else ['--work-dir', str(work_dir)]
    with pytest.raises(SystemExit) as info:
        load_tool(tool).main([config_with_missing_genotype, *argv, *options])
    prefix = 'error: ' if tool == 'analysis/get_flops' else ''
    assert str(info.value.code) == prefix + EXPECTED
    assert not work_dir.exists()  # before the Runner was built
