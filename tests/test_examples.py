"""Smoke tests of the example scripts: each runs in its quick mode as a subprocess, as a user would run it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str) -> ModuleType:
    """Import an example script as a module without running its ``main``."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # Registered before execution because dataclasses look their module up in sys.modules.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_compare_spaces_quick_run(tmp_path: Path) -> None:
    for module in ("sklearn", "matplotlib", "tqdm"):
        pytest.importorskip(module, reason='the example needs the "examples" extra: pip install -e ".[examples]"')
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "compare_spaces.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]

    assert (tmp_path / "results.json").is_file()
    assert (tmp_path / "results.md").is_file()
    assert (tmp_path / "transforms.png").is_file()
    assert (tmp_path / "transforms.png").read_bytes().startswith(b"\x89PNG")

    configurations = load_example("compare_spaces").make_configurations()
    expected = [(config.name, config.space, config.layer) for config in configurations]
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert [(record["name"], record["space"], record["layer"]) for record in results] == expected
    for record in results:
        assert 0.0 <= record["test_accuracy_mean"] <= 1.0, record
        assert 0.0 <= record["train_accuracy_mean"] <= 1.0, record
        assert len(record["runs"]) == 1, record
        for run in record["runs"]:
            assert 0.0 <= run["test_accuracy"] <= 1.0, run

    # The header row and one row per configuration start with "| "; the separator row starts with "|-".
    table_rows = [line for line in (tmp_path / "results.md").read_text().splitlines() if line.startswith("| ")]
    assert len(table_rows) == len(expected) + 1, table_rows
