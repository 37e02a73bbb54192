"""``import autola_mm`` (every mmdet, mmpose or mmpretrain job that names it) leaves
matplotlib out; the search hooks import it when they draw a figure."""
import subprocess
import sys

from search_testkit import subprocess_env


def test_importing_autola_mm_does_not_import_matplotlib():
    code = ('import sys, autola_mm, autola_mm.engine; '
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))")
    result = subprocess.run([sys.executable, '-c', code], env=subprocess_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == '[]'
