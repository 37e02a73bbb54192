"""FeatureStats: lazy, cached pooling through autola_mm.ops."""
import pytest
import torch

import autola_mm.models.attention.feature_stats as feature_stats
from autola_mm.models.attention import CBAM, SE, FeatureStats, build_operation


@pytest.fixture
def counted(monkeypatch):
    calls = {'channel': 0, 'spatial': 0}

    def channel_stats(x):
        calls['channel'] += 1
        return x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)

    def spatial_stats(x):
        calls['spatial'] += 1
        return torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)

    monkeypatch.setattr(feature_stats, 'channel_stats', channel_stats)
    monkeypatch.setattr(feature_stats, 'spatial_stats', spatial_stats)
    return calls


def test_values_and_shapes():
    x = torch.tensor([[[[1., 2.], [3., 6.]], [[0., -2.], [4., 2.]]]])   # (1, 2, 2, 2)
    avg, max_ = FeatureStats(x).channel_stats
    assert avg.shape == max_.shape == (1, 2, 1, 1)
    assert avg.flatten().tolist() == [3.0, 1.0] and max_.flatten().tolist() == [6.0, 4.0]
    spatial = FeatureStats(x).spatial_stats
    assert spatial.shape == (1, 2, 2, 2)
    assert spatial[0, 0].tolist() == [[1., 2.], [4., 6.]]    # max over channels
    assert spatial[0, 1].tolist() == [[.5, 0.], [3.5, 4.]]   # mean over channels


def test_lazy_and_cached(counted):
    x = torch.randn(2, 8, 5, 5)
    stats = FeatureStats(x)
    assert counted == {'channel': 0, 'spatial': 0}
    ops = [SE(8, 1 / 4), SE(8, 1 / 4, with_max_pool=True), CBAM(8, 1 / 4),
           build_operation('sep_conv_3x3_spatial', 8), build_operation('dil_conv_3x3_spatial', 8)]
    for op in ops:
        op(x, stats)
    assert counted == {'channel': 1, 'spatial': 1}


def test_of_reuses_or_creates():
    x = torch.randn(1, 2, 3, 3)
    stats = FeatureStats(x)
    assert FeatureStats.of(x, stats) is stats
    assert FeatureStats.of(x).x is x
    with pytest.raises(ValueError, match='another tensor'):
        FeatureStats.of(x, FeatureStats(x + 1))
