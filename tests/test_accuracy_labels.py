"""Accuracy against the true labels, and calibration kept out of the evaluation set.

ezkl (23.0.5 from PyPI) calibrates on images of the training split (the committed calibration set), never
on evaluation images, and both ezkl and circom (circomlib-ml 1.4.4 from npm) report the float model's
accuracy, the circuit's, and what the circuit lost, beside top-1 agreement with the float model. Both are
read from proofs other tests make anyway: ezkl's from tests/test_ezkl_e2e.py's run, circom's from conftest's
circom_linear.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tracker.metrics import BY_NAME
from tracker.models.accuracy import judge
from tracker.models.zoo import DATA, MODELS, calibration_set, eval_set, float_outputs, get_model
from tracker.records import ModelResult

LABEL_FIELDS = ("float_accuracy", "circuit_accuracy", "accuracy_drop")
SIDES = sorted({m.side for m in MODELS})


def rows(images: np.ndarray) -> set[bytes]:
    return {image.tobytes() for image in images}


@pytest.mark.parametrize("side", SIDES)
def test_the_calibration_set_is_training_images_only(side):
    with np.load(DATA / f"calibration_{side}x{side}.npz") as cal, np.load(DATA / f"eval_{side}x{side}.npz") as ev:
        images, labels, positions = cal["images"], cal["labels"], cal["positions"]
        n_eval = len(ev["labels"])
        evaluation = rows(ev["images"])
    assert len(images) == len(labels) == len(positions) == 16
    assert positions.tolist() == list(range(16))  # the first of the training split, in the fixed order
    assert not rows(images) & evaluation  # no calibration image is an evaluation image
    assert n_eval in (497, 2500) and images.dtype == np.uint8 and set(labels.tolist()) <= set(range(10))


def test_float_accuracy_on_the_whole_evaluation_set_is_the_trained_one():
    manifest = json.loads((ROOT / "tracker" / "models" / "weights" / "manifest.json").read_text())
    for model in MODELS[:3]:  # the tiny suite: a float model judged against itself
        x, _ = eval_set(model)
        acc = judge(model, None, float_outputs(model, x).tolist())
        assert acc["float_accuracy"] == pytest.approx(manifest["models"][model.name]["float_accuracy"], abs=0.003)
        assert acc["circuit_accuracy"] == acc["float_accuracy"] and acc["accuracy_drop"] == 0
        assert acc["top1_agreement"] == 1.0 and acc["n"] == len(x)


def assert_consistent(accuracy: dict, model_name: str, outputs: list) -> None:
    """The record's label figures against the outputs and labels, recomputed here."""
    model = get_model(model_name)
    x, labels = eval_set(model, accuracy["n"])
    circuit_right = int(np.sum(np.asarray(outputs).reshape(len(x), -1).argmax(1) == labels))
    float_right = int(np.sum(float_outputs(model, x).argmax(1) == labels))
    assert accuracy["circuit_accuracy"] == circuit_right / len(x)
    assert accuracy["float_accuracy"] == float_right / len(x)
    assert accuracy["circuit_accuracy"] - accuracy["float_accuracy"] == pytest.approx(-accuracy["accuracy_drop"],
                                                                                        abs=1e-12)
    # the accuracies differ by at most the share of inputs whose prediction the circuit changed
    assert abs(accuracy["accuracy_drop"]) <= 1 - accuracy["top1_agreement"] + 1e-12
    result = ModelResult("f", "r", model_name, "v", accuracy=accuracy)
    assert [BY_NAME[name].value(result) for name in LABEL_FIELDS] == [accuracy[k] for k in LABEL_FIELDS]


def assert_ezkl_calibrated_on_training_images(record: dict, cache: Path, eval_count: int) -> None:
    """ezkl's record of `linear` (variant resources) run with `cache`: it calibrated on the committed
    calibration images, none of them an evaluation image, and reports label accuracy. Checked on the
    proof tests/test_ezkl_e2e.py makes of ezkl 23.0.5 rather than on a run of its own."""
    assert record["status"] == "ok" and record["settings"]["calibration_samples"] == 16
    assert record["settings"]["calibration_data"].startswith("training split of sklearn-digits-8x8-resized-4x4")

    # what ezkl calibrated on: the committed calibration images, none of them an evaluation image
    workdir = cache / "work" / "ezkl" / record["revision"][:16] / "linear--resources"
    calibrated = np.asarray(json.loads((workdir / "calibration.json").read_text())["input_data"][0]).reshape(-1, 16)
    model = get_model("linear")
    expected, _ = calibration_set(model, 16)
    assert np.array_equal(calibrated, expected.reshape(16, 16).astype(np.float64))
    everything, _ = eval_set(model)
    evaluated = {row.tobytes() for row in everything.reshape(len(everything), -1).astype(np.float64)}
    assert not {row.tobytes() for row in calibrated} & evaluated

    accuracy = record["accuracy"]
    assert set(LABEL_FIELDS) <= set(accuracy) and accuracy["n"] == eval_count
    outputs = json.loads((workdir / "stages" / "accuracy.result.json").read_text())["data"]["outputs"]
    assert_consistent(accuracy, "linear", outputs)


@pytest.mark.slow
def test_circom_reports_label_accuracy(circom_linear):
    """Read from the circom proof of `linear` that tests/test_circom_adapter.py checks (conftest)."""
    from tracker.adapters.circom import CircomAdapter

    job, result = circom_linear
    assert result.status == "ok", result.reason
    assert set(LABEL_FIELDS) <= set(result.accuracy) and result.accuracy["n"] == job.eval_count == 100
    raw = json.loads((job.workdir / "stages" / "accuracy.result.json").read_text())["data"]["outputs"]
    circuit = CircomAdapter().circuit(job, job.new_result())
    assert_consistent(result.accuracy, "linear", [circuit.dequantize(o).tolist() for o in raw])
