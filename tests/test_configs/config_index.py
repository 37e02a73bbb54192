"""The experiment configs under ``configs/`` and what their names announce."""
import copy
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_ROOT = REPO_ROOT / 'configs'
# Every config that names a model (base files excluded), whoever wrote it.
ALL_CONFIGS = sorted(p for p in CONFIG_ROOT.rglob('*.py') if '_base_' not in p.parts)
# The experiments of the AutoLA supplement: attention in {none, SE, CBAM, HOGA}.
SUPPLEMENT_FOLDERS = ('autola_cifar', 'autola_imagenet', 'ssd', 'faster_rcnn', 'simplebaseline')
SUPPLEMENT_CONFIGS = [
    p for p in ALL_CONFIGS
    if p.parent == CONFIG_ROOT or p.relative_to(CONFIG_ROOT).parts[0] in SUPPLEMENT_FOLDERS
]
ATTENTION_TYPES = {'se': 'SE', 'cbam': 'CBAM', 'hoga': 'HOGA'}


def config_id(path: Path) -> str:
    """The path of a config relative to ``configs/`` (a readable test id)."""
    return str(path.relative_to(CONFIG_ROOT))


def attention_of(path: Path):
    """The attention type a config's file name announces (None for plain)."""
    found = re.findall(r'(?<![a-z])(se|cbam|hoga)(?![a-z])', path.stem)
    return ATTENTION_TYPES[found[0]] if found else None


def missing_inputs(cfg) -> list:
    """Files a model config reads at build time (JSON genotypes) that are absent."""
    if isinstance(cfg, dict):
        found = [v for k, v in cfg.items()
                 if k == 'genotype' and isinstance(v, str) and v.endswith('.json')
                 and not (REPO_ROOT / v).is_file()]
        return found + [f for v in cfg.values() for f in missing_inputs(v)]
    if isinstance(cfg, (list, tuple)):
        return [f for v in cfg for f in missing_inputs(v)]
    return []


def without_pretrained(cfg):
    """A copy of a model config with every ``Pretrained`` init_cfg set to None."""
    if isinstance(cfg, dict):
        out = {}
        for key, value in cfg.items():
            inits = value if isinstance(value, (list, tuple)) else [value]
            if key == 'init_cfg' and any(
                    isinstance(i, dict) and i.get('type') == 'Pretrained' for i in inits):
                out[key] = None
            else:
                out[key] = without_pretrained(value)
        return out
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(without_pretrained(v) for v in cfg)
    return copy.deepcopy(cfg)
