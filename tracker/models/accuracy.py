"""The accuracy figures of a circuit, the same for every framework that computes its outputs on the evaluation set.

Two yardsticks. Against the float model (onnx's reference evaluator on the same inputs): max and mean
absolute error of the outputs and top-1 agreement, what quantization changed. Against the true labels, as
the public benchmark measures a network: the float model's accuracy, the circuit's, and what the circuit
lost (`accuracy_drop` = float accuracy - circuit accuracy; lower is better, negative when the circuit
happens to be right more often). The two agree: the accuracies differ by at most the share of inputs
whose top-1 prediction changed (1 - agreement).
"""
from __future__ import annotations

from typing import Any

import numpy as np


def accuracy(job: Any, circuit_outputs: list) -> dict[str, float]:
    """The circuit's outputs on the first `job.eval_count` evaluation inputs of `job.model`, judged."""
    return judge(job.model, job.eval_count, circuit_outputs)


def judge(model: Any, eval_count: int | None, circuit_outputs: list) -> dict[str, float]:
    from tracker.models.zoo import eval_set, float_outputs

    inputs, labels = eval_set(model, eval_count)
    reference = np.asarray(float_outputs(model, inputs), dtype=np.float64).reshape(len(inputs), -1)
    got = np.asarray(circuit_outputs, dtype=np.float64).reshape(reference.shape)
    diff = np.abs(got - reference)
    float_correct = int(np.sum(reference.argmax(1) == labels))
    circuit_correct = int(np.sum(got.argmax(1) == labels))
    return {
        "max_abs_error": float(diff.max()),
        "mean_abs_error": float(diff.mean()),
        "top1_agreement": float(np.mean(got.argmax(1) == reference.argmax(1))),
        "n": int(len(inputs)),
        "float_accuracy": float_correct / len(inputs),
        "circuit_accuracy": circuit_correct / len(inputs),
        "accuracy_drop": (float_correct - circuit_correct) / len(inputs),
    }


def first_input_reference(model: Any) -> np.ndarray:
    """The float model's outputs on the first evaluation input: what a one-input proof is judged against."""
    from tracker.models.zoo import eval_set, float_outputs

    inputs, _ = eval_set(model, 1)
    return np.asarray(float_outputs(model, inputs), dtype=np.float64).reshape(-1)


def single_input_accuracy(reference: np.ndarray, got: Any = None, predicted: int | None = None
                          ) -> dict[str, float]:
    """A one-input proof judged: its outputs `got` against `reference`, or only its predicted class
    where the framework prints no outputs."""
    if got is None:
        return {"top1_agreement": float(int(reference.argmax()) == predicted), "n": 1}
    got = np.asarray(got, dtype=np.float64)
    return {"max_abs_error": float(np.abs(got - reference).max()),
            "top1_agreement": float(got.argmax() == reference.argmax()), "n": 1}
