"""A zoo model as a circom circuit built from circomlib-ml 1.4.x templates, in fixed point.

circomlib-ml 1.4.4's `Dense(nIn, nOut)` and `Conv2D(...)` take the weights as input signals and have
no rescaling step (the 2.x templates that keras2circom 2.x emits divide by 10^n inside; npm does not
have them). So the circuit does not truncate: every value carries its scale and the scale grows with each
layer. Inputs and weights are integers at 10^decimals; a dense or conv output is at (input scale) x
10^decimals and its bias is quantized at that scale; ReLU, max pooling and flatten keep the scale. The
circuit's outputs are the exact integer forward pass of the quantized model, and the tracker divides them
by the final scale to compare with the float model. No rounding happens inside the circuit, so the only
loss is the quantization of inputs, weights and biases; the price is larger integers (10^(decimals x
(layers+1)), far below the BN254 field's 10^76 for every zoo model).

Weights are private inputs of the main component, like keras2circom's circuits (the model stays private,
the outputs are public). Layouts follow circomlib-ml: images are [rows][cols][channels], conv weights
[k][k][in][out], and `Flatten2D` flattens rows, then columns, then channels, where the zoo's (ONNX)
flatten is channels first: the dense layer after a flatten gets its rows permuted to match.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracker.types import Unsupported  # a layer or shape the circomlib-ml 1.4.x templates cannot express

# the circomlib-ml file that defines each template the generator uses
INCLUDES = {"Dense": "Dense.circom", "ReLU": "ReLU.circom", "Conv2D": "Conv2D.circom",
            "MaxPooling2D": "MaxPooling2D.circom", "Flatten2D": "Flatten2D.circom"}

# the largest scale a layer's output may have: values then stay under ~10^70, the field is ~2.2 x 10^76
MAX_SCALE = 10 ** 60


@dataclass
class Circuit:
    """The circuit's source, its private weight inputs, and how to read its outputs back."""

    source: str
    weights: dict[str, Any]        # signal name -> nested lists of ints (as strings: JSON numbers lose digits)
    input_shape: tuple[int, ...]   # the `in` signal's shape ([features] or [rows][cols][channels])
    decimals: int
    output_scale: int              # the outputs are (float outputs) x output_scale, up to quantization
    templates: list[str] = field(default_factory=list)
    input_scale: int = 0           # the inputs' scale; 0 means 10^decimals
    # per evaluation input, more input signals the circuit needs besides `in` and the weights (keras2circom
    # 2.x circuits take each layer's quotient and remainder, computed outside the circuit)
    extras: list[dict[str, Any]] | None = None

    def input_signal(self, x: np.ndarray) -> Any:
        """One model input (zoo layout) as the `in` signal's value: quantized, in circomlib-ml's layout."""
        q = quantize(x, self.input_scale or 10 ** self.decimals)
        if len(self.input_shape) == 3:  # CHW -> HWC
            q = q.reshape(self.input_shape[2], self.input_shape[0], self.input_shape[1]).transpose(1, 2, 0)
        return _strings(q.reshape(self.input_shape))

    def dequantize(self, outputs: list) -> np.ndarray:
        return np.asarray([int(v) for v in outputs], dtype=np.float64) / self.output_scale


def quantize(a: np.ndarray, scale: int) -> np.ndarray:
    """Round to the nearest integer at `scale`, as Python ints (object array), so nothing overflows."""
    return np.vectorize(lambda v: int(round(float(v) * scale)), otypes=[object])(np.asarray(a, np.float64))


def _strings(a: np.ndarray) -> Any:
    return np.vectorize(str, otypes=[object])(a).tolist()


@dataclass
class _State:
    """What the generator knows between layers: the current signal, its shape and scale, the code so far."""

    signal: str
    shape: tuple[int, ...]
    scale: int
    lines: list[str] = field(default_factory=list)
    decls: list[str] = field(default_factory=list)
    weights: dict[str, Any] = field(default_factory=dict)
    templates: list[str] = field(default_factory=list)
    flatten_from: tuple[int, int, int] | None = None  # the HWC shape that the last flatten flattened


def generate(model, decimals: int) -> Circuit:
    """The circom source of `model` (a `tracker.models.zoo.Model`) with weights at 10^decimals."""
    from tracker.models.zoo import layer_params

    if decimals < 0:
        raise Unsupported(f"decimals must be >= 0, not {decimals}")
    unit = 10 ** decimals
    shape = tuple(model.input_shape)
    if len(shape) == 3:
        shape = (shape[1], shape[2], shape[0])  # CHW -> HWC
    st = _State("in", shape, unit)
    st.decls.append(f"    signal input in{_dims(shape)};")
    for idx, (layer, w, b) in enumerate(layer_params(model)):
        _LAYERS[layer.kind](st, idx, layer, w, b, unit)
    if len(st.shape) != 1:
        raise Unsupported(f"the model's output has shape {st.shape}, not a vector")
    st.decls.append(f"    signal output out[{st.shape[0]}];")
    st.lines.append(f"    for (var i = 0; i < {st.shape[0]}; i++) {{ out[i] <== {st.signal}[i]; }}")
    return Circuit(_source(model.name, st), st.weights, shape, decimals, st.scale, st.templates)


def _source(name: str, st: _State) -> str:
    includes = [f'include "{INCLUDES[t]}";' for t in dict.fromkeys(st.templates)]
    return "\n".join(["pragma circom 2.0.0;", "", f"// zoo model {name}, generated by zkml-tracker", *includes, "",
                      "template Model() {", *st.decls, "", *st.lines, "}", "", "component main = Model();", ""])


def _dims(shape: tuple[int, ...]) -> str:
    return "".join(f"[{n}]" for n in shape)


def _loops(shape: tuple[int, ...], body: str) -> str:
    """`body` (using indices i0, i1, ...) inside one `for` per dimension of `shape`."""
    head = " ".join(f"for (var i{d} = 0; i{d} < {n}; i{d}++) {{" for d, n in enumerate(shape))
    return f"    {head} {body} {'}' * len(shape)}"


def _idx(n: int) -> str:
    return "".join(f"[i{d}]" for d in range(n))


def _component(st: _State, name: str, template: str, args: list[int], out_shape: tuple[int, ...]) -> None:
    """Instantiate a template on the current signal; its `out` becomes the current signal."""
    st.templates.append(template)
    st.lines.append(f"    component {name} = {template}({', '.join(str(a) for a in args)});")
    st.lines.append(_loops(st.shape, f"{name}.in{_idx(len(st.shape))} <== {st.signal}{_idx(len(st.shape))};"))
    st.signal, st.shape = f"{name}.out", out_shape


def _weights(st: _State, name: str, w: np.ndarray, b: np.ndarray, unit: int) -> None:
    """Declare and feed the weight and bias inputs of component `name`: weights at 10^d, bias at the out scale."""
    out_scale = st.scale * unit
    if out_scale > MAX_SCALE:  # signed values must stay far below half the field (~1.1e76) not to wrap
        raise Unsupported(f"a scale of 10^{len(str(out_scale)) - 1} after {name} leaves no headroom in the "
                          "BN254 field: use fewer decimals")
    for suffix, values in (("w", quantize(w, unit)), ("b", quantize(b, out_scale))):
        signal = f"{name}_{suffix}"
        st.decls.append(f"    signal input {signal}{_dims(values.shape)};")
        st.weights[signal] = _strings(values)
        port = "weights" if suffix == "w" else "bias"
        st.lines.append(_loops(values.shape, f"{name}.{port}{_idx(values.ndim)} <== {signal}{_idx(values.ndim)};"))
    st.scale = out_scale


def _dense(st: _State, idx: int, layer, w: np.ndarray, b: np.ndarray, unit: int) -> None:
    if st.shape != (layer.n_in,):
        raise Unsupported(f"layer {idx}: dense({layer.n_in}, {layer.n_out}) after shape {st.shape}")
    if st.flatten_from is not None:  # the zoo flattens CHW, Flatten2D flattens HWC: reorder the rows
        h, wd, c = st.flatten_from
        order = np.arange(h * wd * c).reshape(c, h, wd).transpose(1, 2, 0).reshape(-1)
        w = w[order]
        st.flatten_from = None
    name = f"l{idx}"
    _component(st, name, "Dense", [layer.n_in, layer.n_out], (layer.n_out,))
    _weights(st, name, w, b, unit)


def _conv(st: _State, idx: int, layer, w: np.ndarray, b: np.ndarray, unit: int) -> None:
    if len(st.shape) != 3 or st.shape[2] != layer.n_in:
        raise Unsupported(f"layer {idx}: conv2d with {layer.n_in} channels after shape {st.shape}")
    rows, cols, _ = st.shape
    k = layer.kernel
    name = f"l{idx}"
    _component(st, name, "Conv2D", [rows, cols, layer.n_in, layer.n_out, k, 1],
               (rows - k + 1, cols - k + 1, layer.n_out))
    _weights(st, name, w.transpose(2, 3, 1, 0), b, unit)  # [out][in][k][k] -> [k][k][in][out]


def _relu(st: _State, idx: int, *_: Any) -> None:
    """circomlib-ml's ReLU is per value: one component per element (about 517 constraints each)."""
    name, n = f"l{idx}", len(st.shape)
    st.templates.append("ReLU")
    st.lines.append(f"    component {name}{_dims(st.shape)};")
    st.lines.append(_loops(st.shape, f"{name}{_idx(n)} = ReLU(); {name}{_idx(n)}.in <== {st.signal}{_idx(n)};"))
    st.decls.append(f"    signal {name}_out{_dims(st.shape)};")
    st.lines.append(_loops(st.shape, f"{name}_out{_idx(n)} <== {name}{_idx(n)}.out;"))
    st.signal = f"{name}_out"


def _maxpool(st: _State, idx: int, layer, *_: Any) -> None:
    if len(st.shape) != 3:
        raise Unsupported(f"layer {idx}: max pooling after shape {st.shape}")
    rows, cols, ch = st.shape
    p = layer.kernel
    _component(st, f"l{idx}", "MaxPooling2D", [rows, cols, ch, p, p], ((rows - p) // p + 1, (cols - p) // p + 1, ch))


def _flatten(st: _State, idx: int, *_: Any) -> None:
    if len(st.shape) == 1:
        return
    rows, cols, ch = st.shape
    st.flatten_from = st.shape
    _component(st, f"l{idx}", "Flatten2D", [rows, cols, ch], (rows * cols * ch,))


_LAYERS = {"dense": _dense, "conv2d": _conv, "relu": _relu, "maxpool2d": _maxpool, "flatten": _flatten}
