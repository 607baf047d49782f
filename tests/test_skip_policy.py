"""The suite's skip policy (tests/conftest.py): only "no CUDA" / "no bfloat16" skips keep a session green."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import SKIP_NO_CUDA

HERE = Path(__file__).resolve().parent


def run_pytest(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """Run pytest on one generated test file beside a copy of this suite's conftest.py."""
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_generated.py").write_text("import pytest\n\n" + body)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_a_skip_for_another_reason_fails_the_session(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, "def test_ok():\n    pass\n\n\ndef test_data():\n    pytest.skip('data not here')\n")
    assert out.returncode == 1, out.stdout
    assert "test_generated.py::test_data: data not here" in out.stdout


def test_an_allowed_skip_keeps_the_session_green(tmp_path: Path) -> None:
    out = run_pytest(tmp_path, f"@pytest.mark.skipif(True, reason={SKIP_NO_CUDA!r})\ndef test_gpu():\n    pass\n")
    assert out.returncode == 0, out.stdout
    assert "1 skipped" in out.stdout and "not allowed" not in out.stdout


def test_missing_real_data_fails_instead_of_skipping(tmp_path: Path) -> None:
    body = ("from conftest import REAL_DATA, real_data\n\n\ndef test_needs_data():\n"
            "    REAL_DATA['mnist'] = None\n    real_data('mnist')\n")
    out = run_pytest(tmp_path, body)
    assert out.returncode == 1 and "1 failed" in out.stdout and "mnist not found" in out.stdout, out.stdout
