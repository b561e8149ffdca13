"""Registry entries of the dense baseline, SWAT (U, ERK, M) and AC/DC."""

from __future__ import annotations

from training.acdc import AcdcSparsifier
from training.methods import MethodContext, MethodSpec, register
from training.sparsifier import Sparsifier
from training.swat import SwatSparsifier


def _dense(ctx: MethodContext) -> Sparsifier:
    return Sparsifier(ctx.model)


def _swat(ctx: MethodContext) -> Sparsifier:
    return SwatSparsifier(ctx.model, ctx.config.swat_config())


def _acdc(ctx: MethodContext) -> Sparsifier:
    return AcdcSparsifier(ctx.model, ctx.config.sparsity, ctx.config.acdc_schedule())


register(MethodSpec("dense", "dense baseline (same loop, no masks)", "-", _dense,
                    uses_sparsity=False))
register(MethodSpec("swat-u", "SWAT, uniform Top-K of weights and saved activations, first "
                    "layer dense (--topk-period, --weight-topk, --activation-topk)",
                    "seed 003 (Raihan & Aamodt 2020)", _swat))
register(MethodSpec("swat-erk", "SWAT, Erdos-Renyi-Kernel per-layer densities",
                    "seed 003", _swat))
register(MethodSpec("swat-m", "SWAT, per-layer densities re-split by momentum each epoch",
                    "seed 003", _swat))
register(MethodSpec("acdc", "AC/DC: alternating compressed (global magnitude) and dense "
                    "phases (--acdc-warmup/compressed/decompressed/final)",
                    "seed 000 (Peste et al. 2021)", _acdc))
