"""Smoke tests of the example scripts: each runs in its quick mode as a subprocess, as a user would run it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch.nn.utils import parametrize

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


def compare_spaces_or_skip() -> ModuleType:
    """Import the main example, skipping when the "examples" extra is missing."""
    for module in ("sklearn", "matplotlib", "tqdm"):
        pytest.importorskip(module, reason='the example needs the "examples" extra: pip install -e ".[examples]"')
    return load_example("compare_spaces")


def test_compare_spaces_covers_every_space() -> None:
    example = compare_spaces_or_skip()
    configurations = example.make_configurations(num_classes=10)
    spaces = {config.space for config in configurations}
    assert spaces == {"none", "input", "feature", "weight"}
    labels = [config.label for config in configurations]
    assert len(set(labels)) == len(labels), labels
    assert {"MixUp @ input", "CutMix @ input", "MixUp @ block2", "CutMix @ block2"} <= set(labels)
    assert "ManifoldMixup @ input, block1, block2" in labels
    assert {"WeightStandardization @ block*.0", "DropConnect @ head.2"} <= set(labels)


def test_training_step_per_configuration() -> None:
    """A training forward and backward per configuration: the transform acts, logits and targets fit the loss, and
    detaching leaves the model as it was."""
    example = compare_spaces_or_skip()
    torch.manual_seed(0)
    images = torch.rand(6, 1, 32, 32)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])

    for config in example.make_configurations(num_classes=10):
        model = example.SmallCNN(in_channels=1, num_classes=10)
        keys_before = list(model.state_dict())
        classes_before = [type(module) for module in model.modules()]
        # In training mode batch norm normalises with the batch's statistics, so the plain output is deterministic.
        plain_logits = model.train()(images).detach()
        with example.attach(config, model, num_classes=10) as forward:
            logits, targets = forward(images, labels)
            assert logits.shape == (6, 10), config.label
            assert torch.equal(logits, plain_logits) == (config.transform is None), config.label
            if config.mixes_labels:
                assert targets.dtype == torch.float32, config.label
                assert targets.shape == (6, 10), config.label
                torch.testing.assert_close(targets.sum(dim=1), torch.ones(6))
            else:
                assert torch.equal(targets, labels), config.label
            loss = torch.nn.functional.cross_entropy(logits, targets)
            loss.backward()
            grads = [parameter.grad for parameter in model.parameters()]
            assert all(grad is not None and torch.isfinite(grad).all() for grad in grads), config.label

        assert list(model.state_dict()) == keys_before, config.label
        assert all(not module._forward_hooks for module in model.modules()), config.label
        assert not any(parametrize.is_parametrized(module) for module in model.modules()), config.label
        assert [type(module) for module in model.modules()] == classes_before, config.label
