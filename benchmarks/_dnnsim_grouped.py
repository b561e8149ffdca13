"""The grouped cases of ``bench_dnnsim.py`` (README, "DNNsim bugs", item 11): their layers,
traces and configurations, and the DNNsim bugs that can act on each run."""

from __future__ import annotations

from accelsim.spec.geometry import LayerGeometry

__all__ = ["GROUPED", "GROUPED_CONFIGS", "GROUPED_TRACES", "conv", "grouped_layers",
           "known_difference"]


def conv(name: str, cin: int, cout: int, size: int, k: int, stride: int,
         pad: int, groups: int = 1) -> LayerGeometry:
    """A square convolution (DNNsim crashes on non-square inputs)."""
    out = (size + 2 * pad - k) // stride + 1
    return LayerGeometry(name=name, kind="conv", in_channels=cin, out_channels=cout,
                         kernel_h=k, kernel_w=k, stride_h=stride, stride_w=stride,
                         padding_h=pad, padding_w=pad, input_h=size, input_w=size,
                         output_h=out, output_w=out, groups=groups)


#: the grouped traces (README, "DNNsim bugs", item 11), same fields; run alone with
#: ``--grouped`` (kept apart from ``TRACES`` so that their results add to the others')
GROUPED_TRACES: dict[str, tuple[int, float, float, tuple[int, int], str, int]] = {
    "grp-w50-a40-u8": (7, 0.5, 0.4, (0, 255), "grouped", 1),
    "grp-w80-a30-s8": (8, 0.8, 0.3, (-128, 127), "grouped", 1),
    "grp-w00-a50-u12": (9, 0.0, 0.5, (0, 4095), "grouped", 1),
    "grp-big-w50-a40-u8": (10, 0.5, 0.4, (0, 255), "grouped-big", 1),
    "grp-w80-a40-u8-g2": (2, 0.8, 0.4, (0, 255), "grouped-2", 1),
}
#: the configurations the grouped traces run on
GROUPED_CONFIGS = ("dense", "tcl-T<2,5>", "tclp-dense", "tclp-T<2,5>", "tcle-dense", "tcle-T<2,5>")


#: the layers of the "grouped" traces: depthwise (16 channels 1x1 on 2x2, the README's hand
#: case; 32 channels; 20 channels at stride 2, not a multiple of the rows; two filters per
#: channel, where DNNsim reads the wrong channels), two groups (8 and 16 channels) and four
#: groups (which DNNsim maps as one group reading group 0's channels)
GROUPED = [conv("dw16", 16, 16, 2, 1, 1, 0, 16), conv("dw32", 32, 32, 8, 3, 1, 1, 32),
           conv("dw20s2", 20, 20, 9, 3, 2, 1, 20), conv("dwx2", 8, 16, 6, 3, 1, 1, 8),
           conv("g2a", 8, 8, 9, 3, 1, 0, 2), conv("g2b", 16, 24, 7, 3, 1, 1, 2),
           conv("g4", 16, 16, 6, 3, 1, 1, 4)]


def grouped_layers(kind: str) -> list[LayerGeometry]:
    """The layers of a grouped trace kind: "grouped" (:data:`GROUPED`), "grouped-big" (a
    2-group layer of more than ``rows`` filters per group) or "grouped-2" (two 8-channel
    2-group layers)."""
    if kind == "grouped-big":
        return [conv("g2big", 32, 48, 8, 3, 1, 1, 2)]
    if kind == "grouped-2":
        return [conv("g2t9", 8, 8, 9, 3, 1, 0, 2), conv("g2t5", 8, 8, 5, 3, 1, 0, 2)]
    return list(GROUPED)


def known_difference(layer: str, config: str) -> str:
    """Why DNNsim's cycles on a grouped layer may not be ours ("" if they must be equal): the
    DNNsim bugs of README items 6 and 11 that can act on the layer and configuration."""
    g = next((g for g in GROUPED if g.name == layer), None)
    if g is None:
        return ""
    if g.groups > 2 and g.in_channels != g.groups:
        return "groups > 2: DNNsim maps one group, every filter over group 0's channels"
    if g.in_channels == g.groups and config.startswith("tcle-") and config != "tcle-dense":
        return ("depthwise on TCLe with weight skipping: the empty lanes of DNNsim's rows read "
                "lane 0 at line 0 (bug 6)" + ("; 2 filters a channel: DNNsim reads channel "
                                              "c0 + i, not filter i's" if g.out_channels >
                                              g.in_channels else ""))
    return ""
