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


def with_absent_genotypes_replaced(cfg, stand_in: str):
    """A copy of a model config whose JSON genotype files that do not exist
    (written by a search the config follows, e.g. the demo's) read ``stand_in``."""
    if isinstance(cfg, dict):
        return {k: (stand_in if k == 'genotype' and isinstance(v, str) and v.endswith('.json')
                    and not (REPO_ROOT / v).is_file() else with_absent_genotypes_replaced(
                        v, stand_in)) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(with_absent_genotypes_replaced(v, stand_in) for v in cfg)
    return cfg


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
