"""The recorder writes exactly the operands the kernels computed with."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from accelsim.errors import ConfigError
from accelsim.rundir import trace_name
from accelsim.trace import open_trace
from training.methods import swat
from training.methods.acdc import AcdcSparsifier
from training.methods.acdc_schedule import AcdcSchedule
from training.methods.swat_config import SwatConfig
from training.recorder import TraceRecorder


def _pass_results(module: nn.Module, layer) -> dict[str, torch.Tensor]:
    """Recompute each recorded pass from the trace's operands."""
    kw = ({"stride": module.stride, "padding": module.padding}
          if isinstance(module, nn.Conv2d) else None)

    def t(pass_name, role):
        return torch.from_numpy(layer.operand(pass_name, role))
    w, a = t("forward", "weight"), t("forward", "activation")
    out = {"output": F.conv2d(a, w, module.bias, **kw) if kw else F.linear(a, w, module.bias)}
    ab, g = t("backward_weight", "activation"), t("backward_weight", "grad")
    out["grad_weight"] = (torch.nn.grad.conv2d_weight(ab, w.shape, g, **kw) if kw
                          else g.t() @ ab)
    if "backward_input" in layer.passes:
        wi, gi = t("backward_input", "weight"), t("backward_input", "grad")
        out["grad_input"] = (torch.nn.grad.conv2d_input(a.shape, wi, gi, **kw) if kw
                             else gi @ wi)
    return out


@pytest.mark.parametrize("method", ["dense", "swat-u", "swat-erk", "acdc"])
def test_recomputed_passes_equal_what_the_layers_produced(tmp_path, method, tiny_net):
    model = tiny_net(inplace=True)
    if method == "acdc":
        sp = AcdcSparsifier(model, 0.75, AcdcSchedule.from_phases([("compressed", 1)]))
        sp.on_epoch_start(0)                    # prune: the weights are masked in place
    else:
        sp = None if method == "dense" else swat.apply(model, SwatConfig.for_method(method, 0.75))
    rec = TraceRecorder(model, tmp_path, sparsifier=sp, every=1, samples=4,
                        encoding="float32", keep_results=True)
    x = torch.randn(4, 3, 8, 8)
    with rec.step(0) as cap:
        model(x).square().sum().backward()
    modules = dict(model.named_modules())
    with open_trace(cap.path) as trace:
        assert trace.metadata.method == method
        for layer in trace.iter_layers():
            got = _pass_results(modules[layer.name], layer)
            want = cap.results[layer.name]
            assert torch.allclose(got["output"], want["output"], atol=1e-5)
            assert torch.allclose(got["grad_weight"], modules[layer.name].weight.grad, atol=1e-4)
            if layer.name == "0":
                assert "backward_input" not in layer.passes     # first layer
            else:
                assert torch.allclose(got["grad_input"], want["grad_input"], atol=1e-4)


def test_swat_trace_holds_sparse_weights_dense_forward_input_sparse_saved_input(tmp_path, tiny_net):
    model = tiny_net(inplace=True)
    sp = swat.apply(model, SwatConfig.for_method("swat-u", 0.9))
    rec = TraceRecorder(model, tmp_path, sparsifier=sp, samples=2)
    with rec.record(5, epoch=1, batch_indices=[10, 11, 12, 13]) as cap:
        model(torch.randn(4, 3, 8, 8)).sum().backward()
    with open_trace(cap.path) as trace:
        assert trace.metadata.batch_indices == (10, 11)
        assert trace.metadata.step == 5 and trace.metadata.epoch == 1
        assert trace.metadata.method_params["sparsity"] == 0.9
        layer = trace.load_layer("3")
        assert layer.mask("forward", "weight").mean() == pytest.approx(0.1, abs=0.01)
        fw_act = layer.mask("forward", "activation").mean()
        bw_act = layer.mask("backward_weight", "activation").mean()
        assert bw_act < fw_act                         # Top-K of a post-ReLU input
        # output gradients are never Top-K'd: the loss gradient reaches the last layer whole
        assert trace.load_layer("6").mask("backward_input", "grad").all()
        assert layer.operand("forward", "activation").shape[0] == 2


def test_inference_trace_from_eval_mode_has_forward_only(tmp_path, tiny_net):
    model = tiny_net(inplace=True)
    sp = swat.apply(model, SwatConfig.for_method("swat-u", 0.9))
    model.eval()
    rec = TraceRecorder(model, tmp_path, sparsifier=sp, samples=2)
    with torch.no_grad(), rec.record(0) as cap:
        model(torch.randn(3, 3, 8, 8))
    with open_trace(cap.path) as trace:
        assert trace.metadata.mode == "inference"
        assert all(layer.passes == ("forward",) for layer in trace.iter_layers())
    dense = tiny_net(inplace=True).eval()
    rec = TraceRecorder(dense, tmp_path / "d", samples=2)
    with torch.no_grad(), rec.record(0) as cap:
        dense(torch.randn(3, 3, 8, 8))
    with open_trace(cap.path) as trace:
        assert len(trace.layers) == 3


def test_schedule_boundaries_layer_and_pass_selection(tmp_path, tiny_net):
    model = tiny_net(inplace=True)
    sp = swat.apply(model, SwatConfig(sparsity=0.8, period=4))
    rec = TraceRecorder(model, tmp_path, sparsifier=sp, every=3, layers=["3", "6"],
                        passes=["forward", "backward_weight"])
    steps = []
    for it in range(7):
        sp.before_forward(it)
        with rec.step(it) as cap:
            model(torch.randn(2, 3, 8, 8)).sum().backward()
        if cap is not None:
            steps.append(it)
        sp.step()
    # every 3rd step, plus the steps whose thresholds are recomputed (0 and 4)
    assert steps == [0, 3, 4, 6]
    with open_trace(tmp_path / trace_name(3)) as trace:
        assert trace.layer_names == ("3", "6")
        assert all(layer.passes == ("forward", "backward_weight")
                   for layer in trace.iter_layers())


def test_failures_write_nothing(tmp_path, tiny_net):
    model = tiny_net(inplace=True)
    rec = TraceRecorder(model, tmp_path, every=1)
    with pytest.raises(RuntimeError), rec.record(0):
        model(torch.randn(2, 3, 8, 8))
        raise RuntimeError("loss exploded")
    with pytest.raises(ConfigError, match="backward"), rec.record(1):
        model(torch.randn(2, 3, 8, 8))
    with pytest.raises(ConfigError, match="no recorded layer"), rec.record(2):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, match", [
    ({"every": -1}, "every"), ({"samples": 0}, "samples"), ({"passes": ["sideways"]}, "passes"),
    ({"layers": ["nothing*"]}, "match no")])
def test_bad_recorder_options(tmp_path, kwargs, match, tiny_net):
    with pytest.raises(ConfigError, match=match):
        TraceRecorder(tiny_net(inplace=True), tmp_path, **kwargs)
