"""The method registry: torch-free listing, every method built through the interface, and a
loop that knows only the interface."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from training.config import TrainConfig
from training.loop import build_sparsifier
from training.registry import methods
from training.sparsifier import Sparsifier

ROOT = Path(__file__).resolve().parents[2]


def test_registry_listing_and_config_validation_import_no_torch():
    code = ("import sys, json\n"
            "from training.registry import methods\n"
            "from training.config import TrainConfig\n"
            "listing = {n: m.to_dict() for n, m in methods().items()}\n"
            "TrainConfig(method='acdc', epochs=4, method_params={'acdc_warmup': '1'})\n"
            "assert listing['swat-u']['params'][0]['name'] == 'topk_period'\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def _batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(3)
    return [(torch.randn(6, 1, 6, 6, generator=g), torch.randint(0, 3, (6,), generator=g))
            for _ in range(n)]


@pytest.mark.parametrize("name", list(methods()))
def test_every_registered_method_builds_and_runs_through_the_interface(name, tiny_cnn):
    config = TrainConfig(method=name, sparsity=0.5, epochs=4, batch_size=6)
    sp = build_sparsifier(tiny_cnn, config, steps_per_epoch=3, batches=_batches)
    assert isinstance(sp, Sparsifier) and sp.method == name
    opt = torch.optim.SGD(tiny_cnn.parameters(), lr=0.01, momentum=0.9)
    sp.attach_optimizer(opt)
    step = 0
    for epoch in range(config.epochs):
        sp.on_epoch_start(epoch)
        for x, y in _batches(3):
            sp.before_forward(step)
            loss = nn.functional.cross_entropy(tiny_cnn(x), y)
            penalty = sp.regularization()
            opt.zero_grad()
            (loss if penalty is None else loss + penalty).backward()
            opt.step()
            sp.step()
            step += 1
    masks = sp.weight_masks()
    assert set(masks) == set(sp.layers) == set(sp.target_densities())
    assert all(m.dtype == torch.bool for m in masks.values())
    assert sp.phase() in (None, "dense", "compressed")
    assert sp.measured_densities() is None or set(sp.measured_densities()) <= set(sp.layers)
    assert sp.describe()["method"] == name
    sp.load_state_dict(sp.state_dict())             # a checkpoint of itself loads back
    sp.pop_events()
    sp.remove()


def _names(path: Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text())
    modules = {node.module for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module}
    modules |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for a in node.names}
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    return modules, names


@pytest.mark.parametrize("module", ["loop.py", "config.py", "checkpoint.py", "metrics.py",
                                    "recorder.py"])
def test_the_loop_never_references_a_concrete_sparsifier(module):
    modules, names = _names(ROOT / "training" / module)
    assert not any(m.startswith("training.methods") for m in modules)
    assert {n for n in names if n.endswith("Sparsifier")} <= {"Sparsifier"}
