"""Grad-CAM (Selvaraju et al., ICCV 2017) and guided backpropagation
(Springenberg et al., ICLR 2015 workshop) of mm classifiers.

AutoLA's supplement (Ma et al., NeurIPS 2020, Figure 3) shows both, computed
on the last stage, for plain, SE, CBAM and HOGA networks side by side. The
methods come from the ``grad-cam`` package (``pytorch_grad_cam``); this file
wraps an mm classifier as the image-to-logits module it expects and turns its
results into pictures.
"""
import copy
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from .input_errors import AnalysisInputError
from .stages import backbone_stages, is_stage_name, select_stages


class ImageToLogits(nn.Module):
    """An mm image classifier as a module from raw images to logits.

    Applies the model's data preprocessor (channel order, normalisation),
    then backbone, neck and head, so gradients reach the input pixels.

    Args:
        model (nn.Module): An mmpretrain ``ImageClassifier`` (or any mm
            model whose ``forward(inputs, mode='tensor')`` returns logits).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        """Logits of a batch of images.

        Args:
            images (Tensor): Shape (N, 3, H, W), pixel values as the dataset
                pipeline packs them (0..255, the dataset's channel order).

        Returns:
            Tensor: Logits of shape (N, num_classes).
        """
        inputs = self.model.data_preprocessor(dict(inputs=images), False)['inputs']
        logits = self.model(inputs, mode='tensor')
        if not isinstance(logits, Tensor) or logits.dim() != 2:
            raise ValueError(f'{type(self.model).__name__} does not map images to '
                             '(N, classes) logits: Grad-CAM needs an image classifier')
        return logits


def resolve_layer(model: nn.Module, name: Optional[str] = None) -> Tuple[str, nn.Module]:
    """The layer Grad-CAM explains: a stage name, a module path, or the last stage.

    Args:
        model (nn.Module): An mm classifier.
        name (str, optional): A stage name (``layer3``), a dotted module path
            inside the model (``backbone.layer3.2.conv2``) or None for the
            backbone's last stage.

    Returns:
        tuple[str, nn.Module]: The layer's name and module.
    """
    stages = backbone_stages(model)
    if name is None:
        return next(reversed(stages.items()))
    if is_stage_name(name):
        return name, select_stages(model, [name])[name]
    modules = dict(model.named_modules())
    if name not in modules:
        last = next(reversed(stages))
        raise AnalysisInputError(f'no layer {name} in {type(model).__name__}: give a stage '
                                 f'({", ".join(stages)}) or a module path such as '
                                 f'backbone.{last}.0.conv2')
    return name, modules[name]


def predict(classifier: ImageToLogits, image: Tensor) -> int:
    """The class a classifier predicts for one image.

    Args:
        classifier (ImageToLogits): The wrapped model.
        image (Tensor): Shape (3, H, W).

    Returns:
        int: The index of the largest logit.
    """
    with torch.no_grad():
        return int(classifier(image[None].float()).argmax(dim=1))


def grad_cam(classifier: ImageToLogits, layer: nn.Module, image: Tensor,
             target: int) -> np.ndarray:
    """Grad-CAM map of one image for one class.

    Args:
        classifier (ImageToLogits): The wrapped model.
        layer (nn.Module): The layer whose activations are weighted.
        image (Tensor): Shape (3, H, W), as the pipeline packs it.
        target (int): The class to explain.

    Returns:
        np.ndarray: Shape (H, W), float32 in [0, 1].
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    with GradCAM(model=classifier, target_layers=[layer]) as cam:
        heatmap = cam(input_tensor=image[None].float(),
                      targets=[ClassifierOutputTarget(target)])
    return heatmap[0].astype(np.float32)


def guided_backprop(classifier: ImageToLogits, image: Tensor, target: int) -> np.ndarray:
    """Guided backpropagation of one class score to the input pixels.

    ``pytorch_grad_cam`` swaps every ``nn.ReLU`` module for its guided
    version while it runs; it works on a copy, so ``classifier`` keeps its
    own modules. ReLUs applied as functions are not guided.

    Args:
        classifier (ImageToLogits): The wrapped model.
        image (Tensor): Shape (3, H, W), as the pipeline packs it.
        target (int): The class to explain.

    Returns:
        np.ndarray: The input gradient, shape (H, W, 3), in the channel order
        of ``image``.
    """
    from pytorch_grad_cam import GuidedBackpropReLUModel
    guided = GuidedBackpropReLUModel(copy.deepcopy(classifier), device=torch.device('cpu'))
    return guided(image[None].float(), target_category=target).astype(np.float32)


def display_rgb(image: np.ndarray, model: nn.Module) -> np.ndarray:
    """An (H, W, 3) array in the model's input channel order, as RGB.

    Args:
        image (np.ndarray): Shape (H, W, 3): a packed input or its gradient.
        model (nn.Module): The mm model; its data preprocessor's ``to_rgb``
            says the packed inputs are BGR.

    Returns:
        np.ndarray: Shape (H, W, 3), channels RGB.
    """
    bgr_inputs = getattr(model.data_preprocessor, 'to_rgb', False)
    return np.ascontiguousarray(image[..., ::-1] if bgr_inputs else image)


def cam_overlay(image_rgb: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """A Grad-CAM heatmap blended over its image.

    Args:
        image_rgb (np.ndarray): Shape (H, W, 3), uint8 RGB.
        heatmap (np.ndarray): Shape (H, W), values in [0, 1].

    Returns:
        np.ndarray: Shape (H, W, 3), uint8 RGB.
    """
    from pytorch_grad_cam.utils.image import show_cam_on_image
    return show_cam_on_image(image_rgb.astype(np.float32) / 255, heatmap, use_rgb=True)


def guided_image(gradient_rgb: np.ndarray) -> np.ndarray:
    """An input gradient scaled for display (mean grey, clipped contrast).

    Args:
        gradient_rgb (np.ndarray): Shape (H, W, 3), RGB.

    Returns:
        np.ndarray: Shape (H, W, 3), uint8.
    """
    from pytorch_grad_cam.utils.image import deprocess_image
    return deprocess_image(gradient_rgb)


@dataclass
class Explanation:
    """What the Figure 3 grid shows of one model on one image.

    Args:
        image_rgb (np.ndarray): The input as the model sees it before
            normalisation, (H, W, 3) uint8 RGB.
        grad_cam (np.ndarray): Grad-CAM over the image, (H, W, 3) uint8 RGB.
        guided_backprop (np.ndarray): Guided backpropagation, (H, W, 3) uint8
            RGB.
        target (int): The explained class, the one the model predicts.
    """
    image_rgb: np.ndarray
    grad_cam: np.ndarray
    guided_backprop: np.ndarray
    target: int


def explain(model: nn.Module, layer: nn.Module, image: Tensor) -> Explanation:
    """Grad-CAM and guided backpropagation of the predicted class.

    Args:
        model (nn.Module): An mm image classifier in eval mode.
        layer (nn.Module): The layer Grad-CAM weights (see
            :func:`resolve_layer`).
        image (Tensor): Shape (3, H, W), as the dataset pipeline packs it.

    Returns:
        Explanation: The displayable images and the explained class.
    """
    classifier = ImageToLogits(model)
    target = predict(classifier, image)
    image_rgb = display_rgb(image.permute(1, 2, 0).numpy(), model)
    heatmap = grad_cam(classifier, layer, image, target)
    gradient = guided_backprop(classifier, image, target)
    return Explanation(
        image_rgb=image_rgb,
        grad_cam=cam_overlay(image_rgb, heatmap),
        guided_backprop=guided_image(display_rgb(gradient, model)),
        target=target)
