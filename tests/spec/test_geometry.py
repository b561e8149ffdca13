import pytest

from accelsim.errors import GeometryError
from accelsim.spec.geometry import LayerGeometry, conv_output_size


def test_output_size_formula():
    assert conv_output_size(224, 7, 2, 3, 1) == 112
    assert conv_output_size(56, 3, 2, 1, 1) == 28
    assert conv_output_size(5, 3, 1, 2, 2) == 5


def test_macs_conv(conv3x3, depthwise, linear):
    assert conv3x3.macs_per_sample == 6 * 5 * 5 * 4 * 9
    assert depthwise.macs_per_sample == 8 * 3 * 3 * 1 * 9
    assert linear.macs_per_sample == 24
    assert conv3x3.weight_shape() == (6, 4, 3, 3)
    assert depthwise.weight_shape() == (8, 1, 3, 3)
    assert linear.activation_shape(2) == (2, 8) and linear.grad_shape(2) == (2, 3)


def test_round_trip_dict(conv_strided):
    d = conv_strided.to_dict()
    assert d["macs"] == conv_strided.macs_per_sample
    assert LayerGeometry.from_dict(d) == conv_strided


@pytest.mark.parametrize("change, words", [
    ({"output_h": 4}, "output_h"),
    ({"in_channels": 0}, "in_channels"),
    ({"kind": "pool"}, "kind"),
    ({"groups": 3}, "groups"),
    ({"padding_h": -1}, "padding_h"),
    ({"stride_w": 1.5}, "stride_w"),
])
def test_invalid_geometry(conv_strided, change, words):
    d = conv_strided.to_dict()
    d.pop("macs")
    d.update(change)
    with pytest.raises(GeometryError, match=words):
        LayerGeometry.from_dict(d)


def test_macs_field_is_checked(conv3x3):
    d = conv3x3.to_dict()
    d["macs"] += 1
    with pytest.raises(GeometryError, match="macs"):
        LayerGeometry.from_dict(d)


def test_linear_must_be_1x1():
    with pytest.raises(GeometryError, match="linear"):
        LayerGeometry(name="fc", kind="linear", in_channels=4, out_channels=2, kernel_h=3,
                      output_h=1)


def test_geometry_is_frozen(conv3x3):
    with pytest.raises(AttributeError):
        conv3x3.in_channels = 3
