"""Train every model of the zoo and write its weights, the evaluation sets and a manifest.

    pip install -e '.[train]' && python -m tracker.models.train

Data: scikit-learn's bundled 8x8 digits (1,797 images, offline), resized bilinearly to each network's
input side (4, 6, 14 or 28) and stored as uint8. A fixed permutation (seed 0) holds out the last 497
images as the evaluation set; the rest train. Same seed, same files.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from tracker.fsutil import atomic_write_json
from tracker.models.zoo import DATA, MODELS, WEIGHTS, Model

SEED = 0
EVAL_SIZE = 497
MANIFEST_VERSION = 1


def digits_at(side: int):
    """All digits resized to side x side, as uint8 in [0, 255], with labels, in the fixed shuffled order."""
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(SEED).permutation(len(digits.target))
    x = torch.tensor(digits.images[order] / 16.0, dtype=torch.float32)[:, None]
    if side != 8:
        x = torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear", align_corners=False,
                                            antialias=side < 8)
    images = np.clip(np.rint(x[:, 0].numpy() * 255), 0, 255).astype(np.uint8)
    return images, digits.target[order].astype(np.int64)


def torch_net(model: Model):
    import torch.nn as nn

    layers = []
    for layer in model.layers:
        layers.append({
            "dense": lambda l: nn.Linear(l.n_in, l.n_out),
            "conv2d": lambda l: nn.Conv2d(l.n_in, l.n_out, l.kernel),
            "relu": lambda l: nn.ReLU(),
            "maxpool2d": lambda l: nn.MaxPool2d(2),
            "flatten": lambda l: nn.Flatten(),
        }[layer.kind](layer))
    return nn.Sequential(*layers)


def train(model: Model, images: np.ndarray, labels: np.ndarray, epochs: int = 150) -> tuple[dict, float]:
    import torch

    torch.manual_seed(SEED)
    x = torch.tensor(images.astype(np.float32) / 255.0).reshape(len(labels), *model.input_shape)
    y = torch.tensor(labels)
    xt, yt, xe, ye = x[:-EVAL_SIZE], y[:-EVAL_SIZE], x[-EVAL_SIZE:], y[-EVAL_SIZE:]
    net = torch_net(model)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(yt)).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    with torch.no_grad():
        accuracy = float((net(xe).argmax(1) == ye).float().mean())
    weights, i = {}, 0
    for module in net:
        if hasattr(module, "weight"):
            w = module.weight.detach().numpy()
            weights[f"w{i}"] = w.T.copy() if w.ndim == 2 else w  # dense as [n_in, n_out]
            weights[f"b{i}"] = module.bias.detach().numpy()
            i += 1
    return weights, accuracy


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", help="only these models (default: all)")
    args = p.parse_args(argv)
    WEIGHTS.mkdir(exist_ok=True)
    DATA.mkdir(exist_ok=True)
    manifest_path = WEIGHTS / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}}
    by_side = {}
    for model in MODELS:
        if args.models and model.name not in args.models:
            continue
        if model.side not in by_side:
            by_side[model.side] = digits_at(model.side)
            images, labels = by_side[model.side]
            np.savez_compressed(DATA / f"eval_{model.side}x{model.side}.npz", images=images[-EVAL_SIZE:],
                                labels=labels[-EVAL_SIZE:])
        images, labels = by_side[model.side]
        weights, accuracy = train(model, images, labels)
        np.savez_compressed(WEIGHTS / f"{model.name}.npz", **{k: v.astype(np.float32) for k, v in weights.items()})
        manifest["models"][model.name] = {"float_accuracy": round(accuracy, 4), "params": model.param_count,
                                          "dataset": model.dataset}
        print(f"{model.name:22} params {model.param_count:6d}  eval accuracy {accuracy:.3f}")
    manifest.update(version=MANIFEST_VERSION, seed=SEED, eval_size=EVAL_SIZE,
                    data="scikit-learn load_digits (8x8, 1,797 images), bilinear resize, uint8")
    atomic_write_json(manifest_path, manifest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
