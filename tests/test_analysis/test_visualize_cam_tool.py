"""tools/analysis/visualize_cam.py and the Grad-CAM wrapper on tiny models."""
import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from tool_loading import load_tool

from autola_mm.analysis import (ImageToLogits, build_dataset, explain, figures,
                                grad_cam, guided_backprop, load_model,
                                resolve_layer)

CELL = round(figures.CAM_CELL_INCHES * figures.DPI)


def test_grid_of_figure_3_from_dataset_indices(tiny_models, tmp_path):
    result = load_tool('analysis/visualize_cam').main(
        ['--model', *tiny_models['plain'], 'plain', '--model', *tiny_models['hoga'], 'HOGA',
         '--indices', '13', '27', '--out-dir', str(tmp_path)])
    layout = result['layout']
    # One row per image: input, 2 Grad-CAM columns, 2 guided backprop columns.
    assert (layout.rows, layout.cols) == (2, 5)
    png = np.asarray(Image.open(result['figure']))
    assert png.shape[:2] == (2 * CELL, 5 * CELL)
    assert png[..., :3].std() > 10


def test_grid_from_image_files(tiny_models, tmp_path):
    rng = np.random.default_rng(1)
    paths = []
    for index in range(2):
        path = tmp_path / f'image{index}.png'
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    result = load_tool('analysis/visualize_cam').main(
        ['--model', *tiny_models['plain'], '--images', *paths, '--layer', 'layer2',
         '--out-dir', str(tmp_path / 'out')])
    assert (result['layout'].rows, result['layout'].cols) == (2, 3)
    assert Image.open(result['figure']).size == (3 * CELL, 2 * CELL)


def test_wrapper_gives_the_classifier_scores(tiny_models):
    model, cfg = load_model(*tiny_models['hoga'])
    dataset = build_dataset(cfg, 'test')
    samples = [dataset[index] for index in range(4)]
    images = torch.stack([s['inputs'] for s in samples]).float()
    with torch.no_grad():
        scores = ImageToLogits(model)(images).softmax(dim=1)
        predicted = model.test_step(dict(inputs=[s['inputs'] for s in samples],
                                         data_samples=[s['data_samples'] for s in samples]))
    torch.testing.assert_close(scores, torch.stack([p.pred_score for p in predicted]))


def test_grad_cam_matches_its_definition(tiny_models):
    """Weights = spatial mean of d(score)/d(A); map = ReLU(sum_k w_k A_k), min-max
    scaled and resized to the input."""
    model, cfg = load_model(*tiny_models['plain'])
    image = build_dataset(cfg, 'test')[5]['inputs']
    _, layer = resolve_layer(model, None)
    assert layer is model.backbone.layer3

    kept = {}
    handle = layer.register_forward_hook(lambda m, i, output: kept.update(a=output))
    logits = ImageToLogits(model)(image[None].float())
    handle.remove()
    target = int(logits.argmax())
    gradient, = torch.autograd.grad(logits[0, target], kept['a'])
    weights = gradient[0].mean(dim=(1, 2))
    cam = torch.relu((weights[:, None, None] * kept['a'][0]).sum(dim=0)).detach().numpy()
    cam = (cam - cam.min()) / (cam.max() - cam.min() + 1e-7)
    expected = cv2.resize(cam, (32, 32))
    expected = (expected - expected.min()) / (expected.max() - expected.min() + 1e-7)

    heatmap = grad_cam(ImageToLogits(model), layer, image, target)
    assert heatmap.shape == (32, 32)
    np.testing.assert_allclose(heatmap, expected, atol=1e-4)


def test_guided_backprop_keeps_the_model(tiny_models):
    model, cfg = load_model(*tiny_models['hoga'])
    image = build_dataset(cfg, 'test')[3]['inputs']
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    before = ImageToLogits(model)(image[None].float())
    gradient = guided_backprop(ImageToLogits(model), image, target=2)
    assert gradient.shape == (32, 32, 3) and np.abs(gradient).sum() > 0
    assert [m for m in model.modules() if isinstance(m, torch.nn.ReLU)] == relus
    torch.testing.assert_close(ImageToLogits(model)(image[None].float()), before)


def test_explanation_of_the_predicted_class(tiny_models):
    model, cfg = load_model(*tiny_models['plain'])
    image = build_dataset(cfg, 'test')[7]['inputs']
    explanation = explain(model, model.backbone.layer3, image)
    with torch.no_grad():
        assert explanation.target == int(ImageToLogits(model)(image[None].float()).argmax())
    for picture in (explanation.image_rgb, explanation.grad_cam, explanation.guided_backprop):
        assert picture.shape == (32, 32, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(explanation.image_rgb, image.permute(1, 2, 0).numpy())


def test_a_layer_the_model_lacks_is_refused_before_any_work(tiny_models, tmp_path, capsys):
    from autola_mm.analysis import AnalysisInputError
    tool = load_tool('analysis/visualize_cam')
    for layer, message in (
            ('layer4', 'no stage layer4 in backbone PluginCifarResNet; its stages are layer1, '
             'layer2, layer3'),
            ('backbone.layer9.conv', 'no layer backbone.layer9.conv in ImageClassifier: give a '
             'stage (layer1, layer2, layer3) or a module path such as backbone.layer3.0.conv2')):
        with pytest.raises(AnalysisInputError) as error:
            tool.main(['--model', *tiny_models['hoga'], 'HOGA', '--model', *tiny_models['plain'],
                       'plain', '--indices', '0', '--layer', layer,
                       '--out-dir', str(tmp_path / 'out')])
        assert str(error.value) == message
    # Refused before any image was explained: no progress bar, no output folder.
    assert capsys.readouterr().out == ''
    assert not (tmp_path / 'out').exists()
