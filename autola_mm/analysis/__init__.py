"""The analyses of AutoLA's supplement (Ma et al., NeurIPS 2020) for mm models.

Class selectivity per stage, Grad-CAM with guided backpropagation, and
Barnes-Hut t-SNE of pooled stage features; ``tools/analysis/`` wraps them as
command-line tools. Not imported by ``import autola_mm``: it registers nothing.
"""
from .cli import INPUT_ERRORS, add_data_arguments, add_model_arguments, parse_args, run_tool
from .data import (build_dataloader, build_dataset, class_names,
                   dataset_config, iterate_batches, load_image_file)
from .figures import (FigureLayout, cam_grid_figure, selectivity_figure,
                      tsne_figure)
from .grad_cam import (Explanation, ImageToLogits, explain, grad_cam,
                       guided_backprop, predict, resolve_layer)
from .input_errors import AnalysisInputError
from .model_loading import build_model, load_config, load_model, parse_model_specs
from .selectivity import (ClassMeanAccumulator, class_selectivity_index,
                          measure_class_selectivity)
from .stages import StageOutputs, backbone_stages, select_stages, stage_outputs
from .tsne import barnes_hut_tsne, check_perplexity, pooled_stage_features

__all__ = [
    'INPUT_ERRORS', 'add_data_arguments', 'add_model_arguments', 'parse_args', 'run_tool',
    'build_dataloader', 'build_dataset', 'class_names', 'dataset_config', 'iterate_batches',
    'load_image_file', 'FigureLayout', 'cam_grid_figure', 'selectivity_figure', 'tsne_figure',
    'Explanation', 'ImageToLogits', 'explain', 'grad_cam', 'guided_backprop', 'predict',
    'resolve_layer', 'AnalysisInputError', 'build_model', 'load_config', 'load_model',
    'parse_model_specs', 'ClassMeanAccumulator', 'class_selectivity_index',
    'measure_class_selectivity', 'StageOutputs', 'backbone_stages', 'select_stages',
    'stage_outputs', 'barnes_hut_tsne', 'check_perplexity', 'pooled_stage_features'
]
