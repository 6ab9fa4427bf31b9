"""Write a zoo model as a tf.keras h5 file, run by the Python of a keras2circom build (TensorFlow 2.12-2.15).

    python keras_export.py SPEC.json WEIGHTS.npz OUT.h5 RESULT.json

SPEC.json: {"input_shape": [...] (zoo layout: features, or channels-height-width), "layers": [{"kind": ...,
"kernel": ...}, ...], "input_multiplier": m}. WEIGHTS.npz holds w{i}/b{i} in the zoo's layouts (dense
[in, out], conv [out, in, k, k]). The tracker is not installed where this runs: numpy and TensorFlow only.

The Keras model computes the zoo model's function on inputs that are `input_multiplier` times the zoo's
(keras2circom 1.x feeds the circuit integers, so the tracker gives it pixels 0-255 and the first layer's
weights are divided by 255 here). Images become channels-last; the dense layer after a flatten gets its
rows reordered, since Keras flattens height, width, channels where the zoo (ONNX) flattens channels first.
RESULT.json gets the Keras model's outputs on a few inputs, for the caller to check against the zoo's.
"""
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402


def build(spec, weights):
    shape = spec["input_shape"]
    hwc = len(shape) == 3
    keras_shape = (shape[1], shape[2], shape[0]) if hwc else tuple(shape)
    layers, arrays, current, idx, first = [tf.keras.Input(shape=keras_shape)], [], keras_shape, 0, True
    flatten_from = None
    for n, layer in enumerate(spec["layers"]):
        kind = layer["kind"]
        if kind in ("dense", "conv2d"):
            w, b = weights[f"w{idx}"].astype(np.float64), weights[f"b{idx}"].astype(np.float64)
            idx += 1
            if first:
                w = w / spec["input_multiplier"]
                first = False
            if kind == "dense":
                if flatten_from is not None:
                    h, wd, c = flatten_from
                    w = w[np.arange(h * wd * c).reshape(c, h, wd).transpose(1, 2, 0).reshape(-1)]
                    flatten_from = None
                layers.append(tf.keras.layers.Dense(w.shape[1], name=f"dense_{n}"))
                arrays.append((n, [w, b]))
                current = (w.shape[1],)
            else:
                k = w.shape[-1]
                layers.append(tf.keras.layers.Conv2D(w.shape[0], k, padding="valid", name=f"conv_{n}"))
                arrays.append((n, [w.transpose(2, 3, 1, 0), b]))
                current = (current[0] - k + 1, current[1] - k + 1, w.shape[0])
        elif kind == "relu":
            layers.append(tf.keras.layers.ReLU(name=f"re_lu_{n}"))
        elif kind == "maxpool2d":
            layers.append(tf.keras.layers.MaxPooling2D(2, name=f"max_pooling2d_{n}"))
            current = (current[0] // 2, current[1] // 2, current[2])
        elif kind == "flatten":
            if len(current) == 3:
                flatten_from = current
                layers.append(tf.keras.layers.Flatten(name=f"flatten_{n}"))
                current = (current[0] * current[1] * current[2],)
        else:
            raise ValueError(f"layer kind {kind!r} has no Keras export")
    model = tf.keras.Sequential(layers)
    for n, values in arrays:
        target = next(lay for lay in model.layers if lay.name.endswith(f"_{n}"))
        target.set_weights([v.astype(np.float32) for v in values])
    return model, hwc


def main(spec_file, weights_file, out_file, result_file):
    with open(spec_file) as f:
        spec = json.load(f)
    with np.load(weights_file) as f:
        weights = {k: f[k] for k in f.files}
    start = time.perf_counter()
    model, hwc = build(spec, weights)
    model.save(out_file, save_format="h5")
    elapsed = time.perf_counter() - start
    x = np.asarray(spec.get("check_inputs", []), dtype=np.float32) * spec["input_multiplier"]
    if len(x) and hwc:
        x = x.transpose(0, 2, 3, 1)
    outputs = model.predict(x, verbose=0).tolist() if len(x) else []
    with open(result_file, "w") as f:
        json.dump({"samples": [elapsed], "cpu": [], "data": {"outputs": outputs, "tensorflow": tf.__version__}}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
