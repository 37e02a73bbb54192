"""docs/analysis.md shows the analysis tools' refusals word for word.

Every ``text`` block of the page that starts with ``$ python tools/analysis/``
is run in a working directory that holds ``configs/`` and, at the paths the
command names, checkpoints of ``make demo``'s configs (built, not trained: a
refusal comes before any image is read). The tool must end with exactly the
message under the command.
"""
import re
import shlex
from pathlib import Path

import pytest
import torch
from tool_loading import load_tool

from autola_mm.analysis import build_model, load_config, run_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGE = REPO_ROOT / 'docs' / 'analysis.md'
EXAMPLE = re.compile(r'```text\n\$ (python tools/analysis/[^\n]*)\n(.*?)\n```', re.DOTALL)
# A checkpoint of the demo: work_dirs/demo/<config name>/epoch_<n>.pth.
DEMO_CHECKPOINT = re.compile(r'^work_dirs/demo/([^/]+)/epoch_\d+\.pth$')


def page_examples() -> list:
    """``(command, message)`` of every example on the page."""
    return EXAMPLE.findall(PAGE.read_text())


def write_demo_checkpoint(path: str) -> None:
    """Save the weights of ``configs/demo/<name>.py``'s model at ``work_dirs/demo/<name>/...``."""
    name = DEMO_CHECKPOINT.match(path).group(1)
    torch.manual_seed(0)
    model = build_model(load_config(f'configs/demo/{name}.py'))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)


def test_the_page_has_examples():
    assert len(page_examples()) >= 3


@pytest.mark.parametrize('command,message', page_examples(),
                         ids=lambda value: value.split()[1] if value.startswith('python') else '')
def test_the_page_shows_the_message_of_the_tool(command, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'configs').symlink_to(REPO_ROOT / 'configs')
    argv = shlex.split(command)
    for arg in argv:
        if DEMO_CHECKPOINT.match(arg):
            write_demo_checkpoint(arg)
    tool = load_tool(argv[1][len('tools/'):-len('.py')])
    with pytest.raises(SystemExit) as info:
        run_tool(lambda: tool.main(argv[2:]))
    assert info.value.code == message
    assert not (tmp_path / 'work_dirs' / 'analysis').exists()  # nothing was written
