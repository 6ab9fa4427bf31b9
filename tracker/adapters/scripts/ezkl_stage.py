"""One EZKL stage, run by the interpreter of the venv where an ezkl release is installed.

    python ezkl_stage.py STAGE ARGS.json RESULT.json

Standard library and ezkl only (the tracker is not installed there). The samples time the ezkl call and
nothing else: imports and start-up happen before the clock starts. Results go to RESULT.json as
{"samples": [...], "cpu": [...], "data": {...}}. Works across releases 19.x-23.x: keyword arguments
only, `proof_type` where `prove` still takes it (up to 22.x), and awaitables where calibrate_settings and
gen_witness return them (20.x, 21.x). Nothing here downloads: the SRS is made locally with gen_srs.
"""
import asyncio
import inspect
import json
import sys
import time

import ezkl

LOOP = asyncio.new_event_loop()


def call(fn, **kwargs):
    """Call an ezkl function with the keyword arguments this release accepts, awaiting if needed."""
    try:
        accepted = inspect.signature(fn).parameters
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    except (TypeError, ValueError):
        pass

    async def inside_a_loop():  # 20.x/21.x need a running event loop even to create their awaitable
        result = fn(**kwargs)
        return await result if inspect.isawaitable(result) else result

    return LOOP.run_until_complete(inside_a_loop())


def timed(repeats, fn, **kwargs):
    samples, cpu, result = [], [], None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        result = call(fn, **kwargs)
        samples.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return samples, cpu, result


def stage_settings(a):
    run_args = ezkl.PyRunArgs()
    for key in ("input_scale", "param_scale", "logrows"):
        if a.get(key) is not None:
            setattr(run_args, key, a[key])
    c0, t0 = time.process_time(), time.perf_counter()
    call(ezkl.gen_settings, model=a["model"], output=a["settings"], py_run_args=run_args)
    extra = {}
    if a.get("lookup_margin") is not None:
        extra["lookup_safety_margin"] = a["lookup_margin"]
    if a.get("input_scale") is not None:
        extra["scales"] = [a["input_scale"]]
    if a.get("logrows") is not None:
        extra["max_logrows"] = a["logrows"]
    call(ezkl.calibrate_settings, data=a["calibration"], model=a["model"], settings=a["settings"],
         target=a["target"], **extra)
    return [time.perf_counter() - t0], [time.process_time() - c0], {}


def stage_compile(a):
    s, c, _ = timed(1, ezkl.compile_circuit, model=a["model"], compiled_circuit=a["compiled"],
                    settings_path=a["settings"])
    return s, c, {}


def stage_srs(a):
    s, c, _ = timed(1, ezkl.gen_srs, srs_path=a["srs"], logrows=a["logrows"])
    return s, c, {}


def stage_setup(a):
    s, c, ok = timed(a.get("setup_repeats", 1), ezkl.setup, model=a["compiled"], vk_path=a["vk"], pk_path=a["pk"],
                     srs_path=a["srs"])
    if ok is False:
        raise SystemExit("ezkl.setup returned False")
    return s, c, {}


def stage_witness(a):
    s, c, _ = timed(1, ezkl.gen_witness, data=a["data"], model=a["compiled"], output=a["witness"])
    return s, c, {}


def stage_prove(a):
    s, c, _ = timed(a["repeats"], ezkl.prove, witness=a["witness"], model=a["compiled"], pk_path=a["pk"],
                    proof_path=a["proof"], srs_path=a["srs"], proof_type="single")
    return s, c, {}


def stage_verify(a):
    s, c, ok = timed(a["repeats"], ezkl.verify, proof_path=a["proof"], settings_path=a["settings"],
                     vk_path=a["vk"], srs_path=a["srs"])
    if ok is not True:
        raise SystemExit(f"ezkl.verify returned {ok!r}")
    return s, c, {}


def stage_accuracy(a):
    """The circuit's outputs for every evaluation input, from witnesses (no proofs: they are not needed)."""
    outputs, samples, cpu = [], [], []
    for i, x in enumerate(json.load(open(a["inputs"]))):
        data = f"{a['witness']}.{i}.input.json"
        with open(data, "w") as f:
            json.dump({"input_data": [x]}, f)
        s, c, w = timed(1, ezkl.gen_witness, data=data, model=a["compiled"], output=f"{a['witness']}.{i}.json")
        samples += s
        cpu += c
        if not isinstance(w, dict):
            w = json.load(open(f"{a['witness']}.{i}.json"))
        outputs.append(rescaled_outputs(w, a["output_scale"]))
    return samples, cpu, {"outputs": outputs}


def rescaled_outputs(witness, scale):
    pretty = witness.get("pretty_elements") or {}
    if pretty.get("rescaled_outputs"):
        return [float(v) for v in pretty["rescaled_outputs"][0]]
    return [ezkl.felt_to_float(v, scale) for v in witness["outputs"][0]]


STAGES = {name[len("stage_"):]: fn for name, fn in globals().items() if name.startswith("stage_")}


def main(stage, args_file, result_file):
    with open(args_file) as f:
        args = json.load(f)
    samples, cpu, data = STAGES[stage](args)
    with open(result_file, "w") as f:
        json.dump({"samples": samples, "cpu": cpu, "data": data}, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
