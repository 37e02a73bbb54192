"""The authors' HOGA outputs, reproduced through the state-dict converter."""
import pytest
import torch

from autola_mm.models import HOGA, PRIMITIVES, Genotype

CASES = ('default_c16', 'default_c64', 'all_ops_c32')


def test_the_file_holds_the_documented_cases(parity_cases):
    assert set(parity_cases) == set(CASES)
    used = {op for op, _ in parity_cases['all_ops_c32']['genotype']}
    assert used == set(PRIMITIVES)


@pytest.mark.parametrize('name', CASES)
def test_converted_weights_reproduce_eval_then_train_outputs(parity_cases, converter, name):
    case = parity_cases[name]
    hoga = HOGA(case['in_channels'], case['genotype'])
    hoga.load_state_dict(converter.convert(case['state_dict'], case['genotype']))
    x = case['input']
    with torch.no_grad():
        hoga.eval()
        out_eval = hoga(x)
        # output_train was computed after output_eval from the same state.
        hoga.train()
        out_train = hoga(x)
    assert out_eval.shape == x.shape and out_eval.dtype == x.dtype
    # float32 outputs reach |y| ~ 37 (default_c64); 1e-5 absolute plus 1e-5 relative
    # covers the few-ulp differences of the convs' summation order.
    torch.testing.assert_close(out_eval, case['output_eval'], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_train, case['output_train'], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out_eval, out_train, atol=1e-3)


def test_zero_width_group_se_of_the_authors(parity_cases):
    state = parity_cases['default_c16']['state_dict']
    assert state['se.fc.0.weight'].shape == (0, 4)
    assert HOGA(16).group_se.mlp.fc1.weight.shape == (0, 4)


def test_converter_names_every_key_once(parity_cases, converter):
    case = parity_cases['all_ops_c32']
    genotype = Genotype.build(case['genotype'])
    converted = converter.convert(case['state_dict'], genotype)
    assert list(converted) == list(HOGA(32, genotype).state_dict())
    assert len(converted) == len(case['state_dict'])
    assert converted['edges.5.spatial_conv.weight'] is \
        case['state_dict']['_ops.5.SpatialGate.spatial.conv.weight']
    assert converted['proj_bn2.running_var'] is case['state_dict']['channel_back.4.running_var']
    assert converter.official_name('edges.4.conv2.pointwise.weight', genotype) == \
        '_ops.4.op.5.weight'


def _altered(state, drop=None, add=None, reshape=None):
    state = dict(state)
    if drop:
        del state[drop]
    if add:
        state[add] = torch.zeros(1)
    if reshape:
        state[reshape] = torch.zeros(3, 3)
    return state


@pytest.mark.parametrize('change,error,match', [
    (dict(drop='_ops.9.op.2.running_var'), KeyError, "missing key '_ops.9.op.2.running_var'"),
    (dict(add='_ops.0.op.0.weight'), KeyError, "unexpected key '_ops.0.op.0.weight'"),
    (dict(reshape='se2.fc.0.weight'), ValueError,
     r"'se2.fc.0.weight' has shape \(3, 3\); .* needs \(2, 16\)"),
    (dict(drop='channel_back.3.weight'), KeyError, "'channel_back.3.weight'"),
])
def test_converter_refuses_a_state_dict_that_does_not_fit(parity_cases, converter, change,
                                                          error, match):
    state = _altered(parity_cases['default_c16']['state_dict'], **change)
    with pytest.raises(error, match=match):
        converter.convert(state, None)


def test_converter_refuses_the_wrong_genotype(parity_cases, converter):
    case = parity_cases['all_ops_c32']
    with pytest.raises(KeyError, match="unexpected key '_ops.0.fc.0.weight'"):
        converter.convert(case['state_dict'], None)


def test_command_line_round_trip(parity_cases, converter, tmp_path, capsys):
    case = parity_cases['all_ops_c32']
    src, dst = tmp_path / 'authors.pth', tmp_path / 'ours.pth'
    torch.save({'state_dict': case['state_dict']}, src)
    genotype = str(Genotype.build(case['genotype']))
    converter.main([str(src), str(dst), '--genotype', genotype])
    assert 'into' in capsys.readouterr().out
    checkpoint = torch.load(dst, weights_only=True)
    assert checkpoint['meta'] == {'genotype': genotype}
    hoga = HOGA(32, genotype).eval()
    hoga.load_state_dict(checkpoint['state_dict'])
    with torch.no_grad():
        torch.testing.assert_close(hoga(case['input']), case['output_eval'], rtol=1e-5,
                                   atol=1e-5)
