"""The shipped sparse-training methods as data: names, descriptions, parameters, builders.

Torch-free on purpose (``accelsim methods`` and run-config validation import only this):
each entry names the function that builds the method (``"module:function"``), imported
when a run starts.  The parameters here are the fields of each method's own frozen config
(e.g. SWAT's ``topk_period`` is :attr:`training.methods.swat_config.SwatConfig.period`); ``accelsim
train --param NAME=VALUE`` sets them.
"""

from __future__ import annotations

from training.method_spec import MethodSpec, ParamSpec

#: Top-K variants of SWAT (see training.topk)
WEIGHT_VARIANTS = ("nchw", "chw", "hw", "kernel", "filter")
ACTIVATION_VARIANTS = ("nchw", "chw", "hw")
#: pruning scores and scopes (training.methods.pruning)
SCORES = ("magnitude", "taylor", "lamp")
SCOPES = ("global", "layer")
ACCUMULATE = ("steps", "batches")
#: weight sparsity under Hoyer / FATReLU
BASES = ("magnitude", "dense")

_M = "training.methods."

# -- SWAT, AC/DC --------------------------------------------------------------------------
_SWAT = (
    ParamSpec("topk_period", int, 1, "iterations between Top-K threshold recomputes",
              minimum=1),
    ParamSpec("weight_topk", str, "nchw", "weight Top-K granularity", choices=WEIGHT_VARIANTS),
    ParamSpec("activation_topk", str, "nchw", "activation Top-K granularity",
              choices=ACTIVATION_VARIANTS),
)
_ACDC = tuple(
    ParamSpec(f"acdc_{phase}", int, 0, f"{phase} phase length in epochs (0: scaled from the "
              "ImageNet schedule)", minimum=0)
    for phase in ("warmup", "compressed", "decompressed", "final"))

# -- pruning ------------------------------------------------------------------------------
_SCOPE = ParamSpec("scope", str, "global", "rank weights over all layers together (exact "
                   "global count) or keep the same fraction in every layer", choices=SCOPES)
_CYCLE = (
    ParamSpec("rate", float, 0.2, "per-round pruning rate used to choose the number of "
              "rounds (each round then prunes 1-(1-s)^(1/R) of the remaining weights)",
              minimum=0.01, maximum=0.99),
    ParamSpec("rounds", int, 0, "pruning rounds R (0: from rate, at most one per epoch "
              "before the final training)", minimum=0),
    ParamSpec("lr_rewind", bool, True, "restart the learning-rate schedule at every prune "
              "point (learning-rate rewinding, Renda et al. 2020, seed 004's set-up)"),
    ParamSpec("final_fraction", float, 0.5, "fraction of the epochs left to train the final "
              "ticket after the last round", minimum=0.0, maximum=0.95),
    ParamSpec("rewind_epoch", int, 0, "rewind to the weights at the start of this epoch "
              "(0: initialisation)", minimum=0),
    ParamSpec("rewind_step", int, -1, "rewind to the weights at this global step instead "
              "(-1: use rewind_epoch)", minimum=-1),
)
_REWIND = ParamSpec("rewind", bool, True, "reset the surviving weights to the rewind point "
                    "after every round (seed 004 Algorithm 2)")
_TAYLOR = (
    ParamSpec("accumulate", str, "steps", "accumulate |w*dL/dw| over the training steps "
              "before a prune point, or over training batches at it", choices=ACCUMULATE),
    ParamSpec("taylor_window", int, 8, "steps (or batches) accumulated per prune point",
              minimum=1),
)
_AP = (
    ParamSpec("base", str, "magnitude", "base pruning method that prunes (p - q)",
              choices=SCORES),
    ParamSpec("q_ratio", float, 0.1, "AP's share q/p of each AP prune (q = 0.1 p)",
              minimum=0.0, maximum=1.0),
    ParamSpec("dnr_batches", int, 2, "training batches to measure dynamic/static DNR on "
              "at each AP prune point (0: off)", minimum=0),
)
_GRADUAL = (
    ParamSpec("initial_sparsity", float, 0.0, "s_i at the first prune point", minimum=0.0,
              maximum=0.99),
    ParamSpec("start_epoch", int, -1, "epoch of t0 (-1: round(0.1 epochs))", minimum=-1),
    ParamSpec("end_epoch", int, -1, "epoch at which s_f is reached (-1: min(epochs-1, "
              "round(0.75 epochs)))", minimum=-1),
    ParamSpec("frequency", int, 0, "dt, steps between prune points (0: steps per epoch // 4)",
              minimum=0),
)


# -- dynamic sparse training, pruning at initialisation -----------------------------------
def _dst(zeta: float, stop: float) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec("zeta", float, zeta, "drop/regrow fraction of each layer's active weights "
                  "at step 0, cosine-decayed to 0 at the stop step", minimum=1e-6, maximum=1.0),
        ParamSpec("delta_t", int, 0, "optimizer steps between mask updates (0: min(100, "
                  "steps per epoch))", minimum=0),
        ParamSpec("stop", float, stop, "fraction of the run after which masks are frozen",
                  minimum=1e-6, maximum=1.0),
        ParamSpec("distribution", str, "erk", "initial per-layer densities (all layers "
                  "sparse)", choices=("erk", "uniform")),
    )


_BATCHES = ParamSpec("batches", int, 1, "training batches the scores are summed over",
                     minimum=1)

# -- activation sparsity ------------------------------------------------------------------
_BASE = (
    ParamSpec("base", str, "magnitude", "weight sparsity: global magnitude one-shot to "
              "--sparsity, or dense (--sparsity ignored)", choices=BASES),
    ParamSpec("prune_at", float, 0.5, "fraction of the epochs after which the one-shot "
              "magnitude prune happens (epoch floor(prune_at * E))", minimum=0.0, maximum=1.0),
)

METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("dense", "dense baseline (same loop, no masks)", "-",
               "training.sparsifier:build_dense", uses_sparsity=False),
    MethodSpec("swat-u", "SWAT, uniform Top-K of weights and saved activations, first layer "
               "dense (params topk_period, weight_topk, activation_topk)",
               "seed 003 (Raihan & Aamodt 2020)", _M + "swat:build", _SWAT),
    MethodSpec("swat-erk", "SWAT, Erdos-Renyi-Kernel per-layer densities", "seed 003",
               _M + "swat:build", _SWAT),
    MethodSpec("swat-m", "SWAT, per-layer densities re-split by momentum each epoch",
               "seed 003", _M + "swat:build", _SWAT),
    MethodSpec("acdc", "AC/DC: alternating compressed (global magnitude) and dense phases "
               "(params acdc_warmup/compressed/decompressed/final)",
               "seed 000 (Peste et al. 2021)", _M + "acdc:build", _ACDC,
               check="training.methods.acdc_schedule:check_params"),
    MethodSpec("magnitude-oneshot", "magnitude pruning to the target sparsity at one epoch, "
               "then training on that support", "seed 002; seed 004 section 2",
               _M + "pruning:build_oneshot",
               (ParamSpec("epoch", int, -1, "0-based epoch at whose start to prune (-1: "
                          "epochs // 2)", minimum=-1), _SCOPE)),
    MethodSpec("magnitude-gradual", "gradual magnitude pruning on Zhu & Gupta's cubic "
               "schedule s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3",
               "seed 002 (Zhu & Gupta 2018)", _M + "pruning:build_gradual", (*_GRADUAL, _SCOPE)),
    MethodSpec("imp", "iterative magnitude pruning with weight rewinding (lottery ticket): "
               "prune a fraction of the remaining weights each round, rewind the survivors",
               "seed 002 (Frankle & Carbin 2019); seed 004 section 2", _M + "pruning:build_imp",
               (*_CYCLE, _SCOPE)),
    MethodSpec("taylor", "Global Taylor: iterative pruning by |w * dL/dw| accumulated over "
               "steps or batches", "seed 004 section 2 (Molchanov et al. 2019)",
               _M + "pruning:build_taylor", (*_CYCLE, _REWIND, *_TAYLOR, _SCOPE)),
    MethodSpec("lamp", "LAMP: iterative pruning by w_u^2 / sum_{v>=u} w_v^2 per layer, global "
               "threshold", "seed 004 (Lee et al. 2021)", _M + "pruning:build_lamp",
               (*_CYCLE, _REWIND)),
    MethodSpec("ap-lite", "Activate-while-Pruning Lite: base method, and once in the last "
               "cycle q of the pruning goes to negative weights with the smallest movement",
               "seed 004 section 3.3", _M + "pruning:build_ap_lite",
               (*_AP, *_CYCLE, _REWIND, *_TAYLOR)),
    MethodSpec("ap-pro", "Activate-while-Pruning Pro: in every cycle q of the pruning goes to "
               "negative weights with the smallest movement, then rewind and retrain",
               "seed 004 section 3.3", _M + "pruning:build_ap_pro",
               (*_AP, *_CYCLE, _REWIND, *_TAYLOR)),
    MethodSpec("set", "SET: random sparse start, drop smallest |w|, regrow at random every "
               "delta_t steps (per-layer density constant)", "seed 002 (Mocanu et al. 2018)",
               _M + "dst:build_set", _dst(0.3, 1.0)),
    MethodSpec("rigl", "RigL: ERK random start, drop smallest |w|, regrow largest dense "
               "|gradient| (at zero) every delta_t steps until stop",
               "seed 002 (Evci et al. 2020)", _M + "dst:build_rigl", _dst(0.3, 0.75)),
    MethodSpec("snip", "SNIP: global mask at initialisation keeping the largest |g * w|, "
               "fixed", "seed 002 (Lee et al. 2019)", _M + "pai:build_snip", (_BATCHES,)),
    MethodSpec("grasp", "GraSP: global mask at initialisation removing the largest -w * Hg "
               "(Hessian-gradient product), fixed", "seed 002 (Wang et al. 2020)",
               _M + "pai:build_grasp",
               (_BATCHES, ParamSpec("temperature", float, 200.0, "logits divided by this "
                                    "when scoring", minimum=1e-6))),
    MethodSpec("synflow", "SynFlow: iterative data-free global mask keeping the largest "
               "synaptic flow (dR/dw) * w, fixed", "seed 002 (Tanaka et al. 2020)",
               _M + "pai:build_synflow",
               (ParamSpec("iterations", int, 100, "pruning rounds", minimum=1),
                ParamSpec("schedule", str, "exponential", "kept fraction per round",
                          choices=("exponential", "linear")))),
    MethodSpec("hoyer", "Hoyer-square regularisation of ReLU outputs (and weights) on a "
               "global-magnitude one-shot sparse model", "seed 000 (Kurtz et al. 2020; "
               "DeepHoyer)", _M + "activation:build_hoyer",
               (ParamSpec("lambda_a", float, 1.0, "coefficient of the activation Hoyer terms",
                          minimum=0.0),
                ParamSpec("lambda_w", float, 0.0, "coefficient of the weight Hoyer terms",
                          minimum=0.0),
                ParamSpec("normalize", bool, True, "divide each Hoyer-square by the tensor's "
                          "element count"), *_BASE)),
    MethodSpec("fatrelu", "FATReLU (x if x > T else 0) per ReLU call site, calibrated to an "
               "extra activation sparsity, on a global-magnitude one-shot sparse model",
               "seed 000 (Kurtz et al. 2020)", _M + "activation:build_fatrelu",
               (ParamSpec("threshold", float, 0.0, "fixed T for every site (> 0 disables "
                          "calibration)", minimum=0.0),
                ParamSpec("extra_sparsity", float, 0.5, "fraction of ReLU's non-zero "
                          "activations each site's calibrated T zeroes", minimum=0.0,
                          maximum=0.999),
                ParamSpec("calibration_batches", int, 4, "training batches for calibration",
                          minimum=1),
                ParamSpec("fat_at", float, 0.5, "fraction of the epochs after which FATReLU "
                          "is installed (epoch floor(fat_at * E))", minimum=0.0, maximum=1.0),
                *_BASE)),
    MethodSpec("str-bn", "STR-BN: soft-threshold re-parameterised BN scales (learnable "
               "threshold), exact-zero channels and dead filters (sparsity from the "
               "parameters, not --sparsity)", "seed 001 (Kusupati 2020)",
               _M + "str_bn:build",
               (ParamSpec("s_init", float, -1.0, "initial threshold parameter (threshold "
                          "sigmoid(s))"),
                ParamSpec("granularity", str, "layer", "one threshold per BN layer or one "
                          "for all", choices=("layer", "global")),
                ParamSpec("gamma_init", str, "uniform", "redraw BN scales U(0, 1) at install, "
                          "or keep them", choices=("uniform", "keep"))),
               uses_sparsity=False),
)
