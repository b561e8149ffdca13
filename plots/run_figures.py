"""Figures of a training run directory: curves per epoch and per-layer density."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from plots.canvas import finish, new_figure
from plots.data import PlotError
from plots.runs import RunData, load_run

__all__ = ["plot_layer_density", "plot_training_curves"]


def _run(run: str | os.PathLike[str] | RunData) -> RunData:
    return run if isinstance(run, RunData) else load_run(run)


def _get(rec: Mapping[str, Any], *keys: str) -> float:
    cur: Any = rec
    for k in keys:
        if not isinstance(cur, Mapping) or cur.get(k) is None:
            return math.nan
        cur = cur[k]
    return float(cur) if isinstance(cur, int | float) and not isinstance(cur, bool) else math.nan


def _run_title(run: RunData) -> str:
    c = run.config
    if c:
        return (f"{c.get('method', '?')} at sparsity {c.get('sparsity', '?')} on "
                f"{c.get('model', '?')}/{c.get('data', '?')}")
    return run.path.name


def plot_training_curves(run: str | os.PathLike[str] | RunData,
                         out: str | os.PathLike[str] | None = None, *,
                         title: str | None = None) -> Figure:
    """Training curves of a run directory, per epoch: train/test loss, train/test accuracy,
    overall weight and activation density, dead-neuron rates (DNR, dynamic, static)."""
    data = _run(run)
    m = data.metrics
    epochs = [int(r.get("epoch", i)) + 1 for i, r in enumerate(m)]
    fig = new_figure(9.5, 6.2)
    (ax_loss, ax_acc), (ax_den, ax_dnr) = fig.subplots(2, 2, sharex=True)
    style = {"marker": "o", "markersize": 3}
    for split in ("train", "test"):
        ax_loss.plot(epochs, [_get(r, split, "loss") for r in m], label=split, **style)
        ax_acc.plot(epochs, [100 * _get(r, split, "accuracy") for r in m], label=split, **style)
    ax_loss.set_ylabel("loss (cross-entropy, nats)")
    ax_loss.set_title("loss", loc="left")
    ax_acc.set_ylabel("top-1 accuracy (%)")
    ax_acc.set_title("accuracy", loc="left")
    ax_den.plot(epochs, [100 * _get(r, "weight_density", "overall") for r in m],
                label="weights", **style)
    for split in ("train", "test"):
        ys = [100 * _get(r, "activation_density", split, "overall") for r in m]
        if not all(math.isnan(y) for y in ys):
            ax_den.plot(epochs, ys, label=f"activations ({split})", **style)
    ax_den.set_ylabel("density (% non-zero)")
    ax_den.set_ylim(0, 105)
    ax_den.set_title("density", loc="left")
    names = (("dnr", "DNR"), ("dynamic_dnr", "dynamic DNR"), ("static_dnr", "static DNR"))
    any_dnr = False
    for key, label in names:
        ys = [100 * _get(r, "dead_neurons", key) for r in m]
        if not all(math.isnan(y) for y in ys):
            ax_dnr.plot(epochs, ys, label=label, **style)
            any_dnr = True
    if not any_dnr:
        ax_dnr.text(0.5, 0.5, "no dead-neuron data", ha="center", va="center",
                    transform=ax_dnr.transAxes)
    ax_dnr.set_ylabel("dead neurons (% of ReLU outputs)")
    ax_dnr.set_title("dead-neuron rate", loc="left")
    for ax in (ax_loss, ax_acc, ax_den, ax_dnr):
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    for ax in (ax_den, ax_dnr):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title or f"Training curves: {_run_title(data)}", wrap=True)
    return finish(fig, out)


def plot_layer_density(run: str | os.PathLike[str] | RunData,
                       out: str | os.PathLike[str] | None = None, *, epoch: int | None = None,
                       title: str | None = None) -> Figure:
    """Per-layer densities of one epoch (default: the last) of a run directory -- weight
    density, activation density (train when measured, else test), density of the
    activation saved for backward-weight (SWAT's measured densities) -- and the per-ReLU
    dead-neuron rate split into static and dynamic parts."""
    data = _run(run)
    if epoch is None:
        rec = data.metrics[-1]
    else:
        found = [r for r in data.metrics if int(r.get("epoch", -1)) + 1 == epoch]
        if not found:
            raise PlotError(f"run {data.path} has no epoch {epoch}; it has epochs 1.."
                            f"{len(data.metrics)}")
        rec = found[0]
    weights = (rec.get("weight_density") or {}).get("layers") or {}
    acts_all = rec.get("activation_density") or {}
    act_split = "train" if acts_all.get("train") else "test"
    acts = (acts_all.get(act_split) or {}).get("layers") or {}
    saved = {k: v.get("saved_activation") for k, v in (rec.get("measured_densities") or {}).items()
             if isinstance(v, Mapping)}
    layers = list(dict.fromkeys([*weights, *acts, *saved]))
    if not layers:
        raise PlotError(f"run {data.path}: the metrics of epoch {int(rec.get('epoch', 0)) + 1} "
                        "hold no per-layer densities")
    sites = ((rec.get("dead_neurons") or {}).get("sites") or {})
    fig = new_figure(max(7.0, 0.55 * len(layers) + 2.0), 6.4 if sites else 3.6)
    axes = fig.subplots(2 if sites else 1, 1, squeeze=False)[:, 0]
    ax = axes[0]
    x = np.arange(len(layers))
    series = [("weights", weights), (f"activations ({act_split})", acts)]
    if any(v is not None for v in saved.values()):
        series.append(("saved activations (backward-weight)", saved))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        ys = [100 * v if isinstance(v := values.get(name), int | float) else np.nan
              for name in layers]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, ys, width, label=label)
    ax.set_xticks(x, layers, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("density (% non-zero)")
    ax.set_ylim(0, 105)
    ax.set_xlabel("layer")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"per-layer density, epoch {int(rec.get('epoch', 0)) + 1}", loc="left")
    if sites:
        ax2 = axes[1]
        names = list(sites)
        xs = np.arange(len(names))
        static = [100 * float(sites[n].get("static_dnr") or 0) for n in names]
        dynamic = [100 * float(sites[n].get("dynamic_dnr") or 0) for n in names]
        ax2.bar(xs, static, 0.6, label="static (dead for every sample)", color="C3")
        ax2.bar(xs, dynamic, 0.6, bottom=static, label="dynamic", color="C1")
        ax2.set_xticks(xs, names, rotation=45, ha="right", fontsize=7)
        ax2.set_xlabel("ReLU site")
        ax2.set_ylabel("dead neurons (% of outputs)")
        ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax2.set_title("dead-neuron rate (DNR) per ReLU site", loc="left")
    fig.suptitle(title or f"Per-layer density and DNR: {_run_title(data)}", wrap=True)
    return finish(fig, out)
