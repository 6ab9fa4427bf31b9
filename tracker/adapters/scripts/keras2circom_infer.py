"""The extra inputs a keras2circom 2.x circuit needs, from the circuit.py the transpiler wrote beside it.

    python keras2circom_infer.py CIRCUIT.py CIRCUIT.json INPUTS.json OUT.json RESULT.json

keras2circom 2.x layers divide by 10^decimals inside the circuit, so each layer's quotient and remainder
are inputs, which its generated circuit.py computes with `inference({"in": x}, circuit)` in integers.
This calls that function once per input (INPUTS.json: a list of `in` values) in one process and writes,
per input, the signals it returned (OUT.json). Run by the build's Python with the keras2circom checkout
on PYTHONPATH (circuit.py imports keras2circom.util). Standard library only besides that.
"""
import importlib.util
import json
import sys
import time


def main(circuit_py, circuit_json, inputs_file, out_file, result_file):
    spec = importlib.util.spec_from_file_location("k2c_circuit", circuit_py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(circuit_json) as f:
        circuit = json.load(f)
    with open(inputs_file) as f:
        inputs = json.load(f)
    samples, extras = [], []
    for x in inputs:
        start = time.perf_counter()
        _, signals = module.inference({"in": x}, circuit)
        samples.append(time.perf_counter() - start)
        extras.append(signals)
    with open(out_file, "w") as f:
        json.dump(extras, f)
    with open(result_file, "w") as f:
        json.dump({"samples": samples, "cpu": [], "data": {"count": len(extras)}}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
