"""A zoo model as the forward pass of an o1js `ZkProgram`, in fixed point over the Pasta field.

The generator writes an ES module (`model.mjs`) whose `forward(ops, x, w)` is the network: the image `x`
and the weights `w` are flat arrays, `ops` the arithmetic (`add`, `mul`, `relu`, `max`, `zero`). The stage
script (scripts/o1js_stage.mjs) hands it o1js `Field` operations inside the proof and for the accuracy
pass (witness only, no proof), and plain BigInt operations where no o1js is needed (the generator's own
check against the float model, tests/test_o1js.py). One forward pass serves every use, so what is checked
is what is proved.

Fixed point as circomgen's: inputs and weights at 10^decimals, a dense or conv output at (input scale) x
10^decimals with its bias quantized at that scale, no truncation; ReLU and max pooling keep the scale. The
field has no sign: a negative value v is p - |v|. ReLU and max compare by an offset, `v + BOUND >= BOUND`,
where BOUND is a power of two above twice every value's magnitude for any input in [0, 1] (interval
arithmetic over the quantized weights), so both sides of the comparison are small non-negative field
elements at every o1js release. Layouts are the zoo's own (ONNX): images [channels][rows][cols], dense
weights [in][out], conv weights [out][in][k][k], flatten channels first: nothing is permuted.

The weights are private inputs of the program beside the image (as in the circom circuits): the model
stays private and only the ten outputs are public.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracker.adapters.circomgen import quantize
from tracker.types import Unsupported

# o1js compares field elements of at most 253 bits (Field.lessThan's precondition from 1.x on)
MAX_BOUND_BITS = 250

HELPERS = {
    "dense": """function dense(ops, h, w, at, nIn, nOut) {
  const out = [];
  for (let j = 0; j < nOut; j++) {
    let acc = w[at + nIn * nOut + j];
    for (let i = 0; i < nIn; i++) acc = ops.add(acc, ops.mul(h[i], w[at + i * nOut + j]));
    out.push(acc);
  }
  return out;
}""",
    "conv2d": """function conv2d(ops, h, w, at, cIn, cOut, k, rows, cols) {
  const out = [], oRows = rows - k + 1, oCols = cols - k + 1;
  for (let o = 0; o < cOut; o++) for (let r = 0; r < oRows; r++) for (let c = 0; c < oCols; c++) {
    let acc = w[at + cOut * cIn * k * k + o];
    for (let i = 0; i < cIn; i++) for (let a = 0; a < k; a++) for (let b = 0; b < k; b++)
      acc = ops.add(acc, ops.mul(h[(i * rows + r + a) * cols + c + b], w[at + ((o * cIn + i) * k + a) * k + b]));
    out.push(acc);
  }
  return out;
}""",
    "relu": """function relu(ops, h) {
  return h.map((v) => ops.relu(v));
}""",
    "maxpool2d": """function maxpool2d(ops, h, ch, rows, cols, p) {
  const out = [], oRows = Math.floor(rows / p), oCols = Math.floor(cols / p);
  for (let o = 0; o < ch; o++) for (let r = 0; r < oRows; r++) for (let c = 0; c < oCols; c++) {
    let m = h[(o * rows + r * p) * cols + c * p];
    for (let a = 0; a < p; a++) for (let b = 0; b < p; b++)
      if (a || b) m = ops.max(m, h[(o * rows + r * p + a) * cols + c * p + b]);
    out.push(m);
  }
  return out;
}""",
}


@dataclass
class Program:
    """The module's source, the flat weights it takes, and how to read its outputs back."""

    source: str
    weights: list[int]
    n_inputs: int
    n_outputs: int
    decimals: int
    output_scale: int
    bound: int
    layers: list[str] = field(default_factory=list)

    def input_values(self, x: np.ndarray) -> list[str]:
        """One model input (zoo layout) as the program's private image: integers at 10^decimals."""
        return [str(v) for v in quantize(x, 10 ** self.decimals).reshape(-1)]

    def dequantize(self, outputs: list) -> np.ndarray:
        return np.asarray([int(v) for v in outputs], dtype=np.float64) / self.output_scale


@dataclass
class _State:
    """Between layers: the current shape, scale and magnitude bound, the weights and calls so far."""

    shape: tuple[int, ...]
    scale: int
    magnitude: int
    weights: list[int] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    peak: int = 0


def generate(model, decimals: int) -> Program:
    """The o1js program of `model` (a `tracker.models.zoo.Model`) with weights at 10^decimals."""
    from tracker.models.zoo import layer_params

    if decimals < 0:
        raise Unsupported(f"decimals must be >= 0, not {decimals}")
    unit = 10 ** decimals
    st = _State(tuple(model.input_shape), unit, unit)  # inputs in [0, 1]
    for idx, (layer, w, b) in enumerate(layer_params(model)):
        _LAYERS[layer.kind](st, idx, layer, w, b, unit)
        st.peak = max(st.peak, st.magnitude)
    if len(st.shape) != 1:
        raise Unsupported(f"the model's output has shape {st.shape}, not a vector")
    bound = 1 << (2 * st.peak).bit_length()
    if bound.bit_length() > MAX_BOUND_BITS:
        raise Unsupported(f"values reach 2^{bound.bit_length() - 1}, past o1js's comparisons: use fewer decimals")
    n_in = int(np.prod(model.input_shape))
    source = _source(model.name, decimals, n_in, len(st.weights), st.shape[0], bound, st)
    return Program(source, st.weights, n_in, st.shape[0], decimals, st.scale, bound, list(dict.fromkeys(st.kinds)))


def _source(name: str, decimals: int, n_in: int, n_w: int, n_out: int, bound: int, st: _State) -> str:
    head = [f"// zoo model {name}, generated by zkml-tracker: fixed point at 10^{decimals}, no truncation",
            f"export const INPUTS = {n_in};", f"export const WEIGHTS = {n_w};", f"export const OUTPUTS = {n_out};",
            f"export const BOUND = {bound}n; // |v| < BOUND / 2 for every value and every input in [0, 1]", "",
            "export function forward(ops, x, w) {", "  let h = x;", *st.calls, "  return h;", "}", ""]
    return "\n".join(head + [HELPERS[k] + "\n" for k in dict.fromkeys(st.kinds)])


def _add_weights(st: _State, w: np.ndarray, b: np.ndarray, unit: int) -> int:
    """Append the quantized weights (at 10^d) then the bias (at the output scale); return where they start."""
    at = len(st.weights)
    st.scale *= unit
    st.weights += [int(v) for v in quantize(w, unit).reshape(-1)]
    st.weights += [int(v) for v in quantize(b, st.scale).reshape(-1)]
    return at


def _dense(st: _State, idx: int, layer, w: np.ndarray, b: np.ndarray, unit: int) -> None:
    if st.shape != (layer.n_in,):
        raise Unsupported(f"layer {idx}: dense({layer.n_in}, {layer.n_out}) after shape {st.shape}")
    at = _add_weights(st, w, b, unit)
    qw = np.abs(np.asarray(st.weights[at:at + w.size], dtype=object).reshape(w.shape))
    qb = np.abs(np.asarray(st.weights[at + w.size:], dtype=object))
    st.magnitude = max(int(sum(qw[:, j]) * st.magnitude + qb[j]) for j in range(layer.n_out))
    st.calls.append(f"  h = dense(ops, h, w, {at}, {layer.n_in}, {layer.n_out}); // layer {idx}")
    st.kinds.append("dense")
    st.shape = (layer.n_out,)


def _conv(st: _State, idx: int, layer, w: np.ndarray, b: np.ndarray, unit: int) -> None:
    if len(st.shape) != 3 or st.shape[0] != layer.n_in:
        raise Unsupported(f"layer {idx}: conv2d with {layer.n_in} channels after shape {st.shape}")
    _, rows, cols = st.shape
    at = _add_weights(st, w, b, unit)
    qw = np.abs(np.asarray(st.weights[at:at + w.size], dtype=object).reshape(w.shape))
    qb = np.abs(np.asarray(st.weights[at + w.size:], dtype=object))
    st.magnitude = max(int(qw[o].sum() * st.magnitude + qb[o]) for o in range(layer.n_out))
    k = layer.kernel
    st.calls.append(f"  h = conv2d(ops, h, w, {at}, {layer.n_in}, {layer.n_out}, {k}, {rows}, {cols}); // layer {idx}")
    st.kinds.append("conv2d")
    st.shape = (layer.n_out, rows - k + 1, cols - k + 1)


def _relu(st: _State, idx: int, *_: Any) -> None:
    st.calls.append(f"  h = relu(ops, h); // layer {idx}")
    st.kinds.append("relu")


def _maxpool(st: _State, idx: int, layer, *_: Any) -> None:
    if len(st.shape) != 3:
        raise Unsupported(f"layer {idx}: max pooling after shape {st.shape}")
    ch, rows, cols = st.shape
    p = layer.kernel
    st.calls.append(f"  h = maxpool2d(ops, h, {ch}, {rows}, {cols}, {p}); // layer {idx}")
    st.kinds.append("maxpool2d")
    st.shape = (ch, rows // p, cols // p)


def _flatten(st: _State, idx: int, *_: Any) -> None:
    """The zoo flattens channels first, which is how the forward pass keeps its images: nothing to do."""
    st.shape = (int(np.prod(st.shape)),)


_LAYERS = {"dense": _dense, "conv2d": _conv, "relu": _relu, "maxpool2d": _maxpool, "flatten": _flatten}
