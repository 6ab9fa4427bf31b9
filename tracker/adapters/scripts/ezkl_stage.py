"""One EZKL stage, run by the interpreter of the venv where an ezkl release is installed.

Two ways to run it (standard library and ezkl only: the tracker is not installed where this runs):

    python ezkl_stage.py STAGE ARGS.json RESULT.json
        one stage, as the tracker runs it: STAGE is settings, compile, srs, setup, witness, prove,
        verify or accuracy; ARGS.json holds the paths and settings; RESULT.json gets
        {"samples": [...], "cpu": [...], "data": {...}}.

    python ezkl_stage.py bare --model M.onnx --input INPUT.json --workdir DIR [--repeats 3] ...
        the whole pipeline in one process, no tracker around it, for checking that what the tracker
        records matches a bare run of ezkl (prints one JSON summary: samples per stage, peak RSS).
        Point HOME at a scratch directory first: ezkl writes a cache under $HOME/.ezkl.

The samples time the ezkl call and nothing else: imports, start-up and file writing happen outside the
clock. Works across releases 18.x-23.x, which differ in three ways handled in `call`:
  * keyword arguments only; `prove` takes `proof_type` up to 22.x and not from 23.0 (dropped when the
    release's signature does not have it);
  * up to 22.0.x `calibrate_settings` and `gen_witness` return awaitables, which also need a running
    event loop to be created; from 22.1 they return plain values;
  * `verify` raises on a bad proof (and returns True otherwise; anything else is treated as failure).
Nothing here downloads: the SRS is made locally with `gen_srs` (never `get_srs`, never EVM helpers).
"""
import argparse
import asyncio
import inspect
import json
import os
import resource
import sys
import time

import ezkl

VERSION = getattr(ezkl, "__version__", "unknown")
# keyword arguments that only some releases take: dropped where the release does not know them
OPTIONAL_KWARGS = {"proof_type", "lookup_safety_margin", "scales", "max_logrows"}
# the BN254 scalar field: ezkl's field elements, for dequantizing outputs by hand when nothing else can
BN254_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617

_loop = None


def call(fn, **kwargs):
    """Call an ezkl function with keyword arguments this release accepts; await its result if need be."""
    global _loop
    try:
        accepted = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        accepted = None
    if accepted is not None and not any(p.kind == p.VAR_KEYWORD for p in accepted.values()):
        unknown = [k for k in kwargs if k not in accepted]
        missing = [k for k in unknown if k not in OPTIONAL_KWARGS]
        if missing:
            raise TypeError(f"ezkl {VERSION}: {fn.__name__}() takes no {', '.join(missing)}")
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}

    async def in_a_loop():  # up to 22.0.x the awaitable cannot even be created outside a running loop
        out = fn(**kwargs)
        return (await out) if inspect.isawaitable(out) else out

    if _loop is None:
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(in_a_loop())


def timed(repeats, fn, **kwargs):
    """Call `fn` `repeats` times; wall and CPU seconds of each call (all threads of this process)."""
    samples, cpu, _, out = _calls(repeats, fn, kwargs, peaks=False)
    return samples, cpu, out


def measured_calls(repeats, fn, **kwargs):
    """`timed`, and each call's own peak resident bytes: the process's high-water mark is reset before each
    call and read after it (Linux /proc). The peaks are None where the mark cannot be reset here."""
    return _calls(repeats, fn, kwargs, peaks=True)


def _calls(repeats, fn, kwargs, peaks):
    """(samples, cpu, each call's peak or None, the last call's result); the mark is reset only where the
    peaks are asked for (prove: a metric), not in the accuracy pass's thousands of witness calls."""
    samples, cpu, seen, out = [], [], [], None
    for _ in range(max(1, int(repeats))):
        reset = peaks and reset_peak()
        c0, t0 = time.process_time(), time.perf_counter()
        out = call(fn, **kwargs)
        samples.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        seen.append(peak_bytes() if reset else None)
    return samples, cpu, (seen if peaks and None not in seen else None), out


CLEARED = [0]  # the highest peak a reset cleared: the kernel's own peak (wait4's) is the same mark


def reset_peak():
    """Set this process's peak resident memory back to what it holds now (Linux 4.0+), keeping the peak it
    clears in CLEARED (reported as "peak_rss_cleared": the tracker's whole-child peak is the larger of it and
    what it measured); False where it cannot."""
    try:
        CLEARED[0] = max(CLEARED[0], peak_bytes() or 0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes():
    """The peak resident memory since the last reset (VmHWM), in bytes; None where /proc does not say."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _require(ok, what):
    """Older releases return False instead of raising on some failures."""
    if ok is False:
        raise RuntimeError(f"ezkl {VERSION}: {what} returned False")


# --- the stages: each takes the args dict and returns (samples, cpu, data) ---------------------------

def stage_settings(a):
    """gen_settings, then calibrate_settings on the calibration data; one sample covers both calls."""
    run_args = ezkl.PyRunArgs()
    for key in ("input_scale", "param_scale", "logrows"):  # calibration then searches from these
        if a.get(key) is not None:
            setattr(run_args, key, int(a[key]))
    calibrate = {}
    if a.get("lookup_margin") is not None:
        calibrate["lookup_safety_margin"] = a["lookup_margin"]
    if a.get("input_scale") is not None:
        calibrate["scales"] = [int(a["input_scale"])]
    if a.get("logrows") is not None:
        calibrate["max_logrows"] = int(a["logrows"])
    s1, c1, ok = timed(1, ezkl.gen_settings, model=a["model"], output=a["settings"], py_run_args=run_args)
    _require(ok, "gen_settings")
    s2, c2, ok = timed(1, ezkl.calibrate_settings, data=a["calibration"], model=a["model"],
                       settings=a["settings"], target=a.get("target") or "resources", **calibrate)
    _require(ok, "calibrate_settings")
    return [s1[0] + s2[0]], [c1[0] + c2[0]], {"ezkl_version": VERSION, "gen_settings_s": s1[0],
                                              "calibrate_settings_s": s2[0]}


def stage_compile(a):
    s, c, ok = timed(1, ezkl.compile_circuit, model=a["model"], compiled_circuit=a["compiled"],
                     settings_path=a["settings"])
    _require(ok, "compile_circuit")
    return s, c, {}


def stage_srs(a):
    """A local, insecure SRS (toxic waste known to this process): fine for benchmarks, never for production."""
    s, c, _ = timed(1, ezkl.gen_srs, srs_path=a["srs"], logrows=int(a["logrows"]))
    if not os.path.exists(a["srs"]) or os.path.getsize(a["srs"]) == 0:
        raise RuntimeError(f"ezkl {VERSION}: gen_srs wrote no file at {a['srs']}")
    return s, c, {}


def stage_setup(a):
    s, c, ok = timed(a.get("setup_repeats", 1), ezkl.setup, model=a["compiled"], vk_path=a["vk"],
                     pk_path=a["pk"], srs_path=a["srs"])
    _require(ok, "setup")
    return s, c, {}


def stage_witness(a):
    s, c, _ = timed(1, ezkl.gen_witness, data=a["data"], model=a["compiled"], output=a["witness"])
    return s, c, {}


def stage_prove(a):
    """Each repeat's own peak memory too (`peak_rss`, lifted out of the data by `run_stage`): peak prove
    memory is a metric, and three values a revision find its steps where one cannot."""
    s, c, peaks, out = measured_calls(a.get("repeats", 1), ezkl.prove, witness=a["witness"], model=a["compiled"],
                                      pk_path=a["pk"], proof_path=a["proof"], srs_path=a["srs"], proof_type="single")
    _require(out, "prove")
    return s, c, ({"peak_rss": peaks} if peaks else {})


def stage_verify(a):
    """`verify` raises on a bad proof; anything but True is a failure too."""
    samples, cpu = [], []
    for _ in range(max(1, int(a.get("repeats", 1)))):
        s, c, ok = timed(1, ezkl.verify, proof_path=a["proof"], settings_path=a["settings"],
                         vk_path=a["vk"], srs_path=a["srs"])
        if ok is not True:
            raise RuntimeError(f"ezkl {VERSION}: verify returned {ok!r}, not True")
        samples += s
        cpu += c
    return samples, cpu, {"verified": True}


def stage_accuracy(a):
    """The circuit's (dequantized) outputs for each evaluation input, from witnesses alone: no proof needed.

    One sample per witness. The outputs come from the witness file's `pretty_elements.rescaled_outputs`
    (18.x-23.x all write it); failing that, from the field elements and the output scale. With
    `workers` > 1 the inputs are split into that many contiguous parts, each witnessed by a process of
    its own (spawned, so no ezkl thread pool is forked): one witness uses about 1.5 cores, and at 2,500
    inputs this pass is most of a run's time on the larger nets.
    """
    with open(a["inputs"]) as f:
        inputs = json.load(f)
    workers = max(1, min(int(a.get("workers") or 1), len(inputs) // MIN_WITNESSES_PER_WORKER))
    size = -(-len(inputs) // workers)
    parts = [(a, i, inputs[i * size:(i + 1) * size]) for i in range(workers)]
    if workers == 1:
        done = [witness_outputs(parts[0])]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = list(pool.map(witness_outputs, parts))
    outputs, samples, cpu, sources = [], [], [], set()
    for o, s, c, src in done:
        outputs += o
        samples += s
        cpu += c
        sources |= src
    return samples, cpu, {"outputs": outputs, "source": ",".join(sorted(sources)), "workers": workers}


MIN_WITNESSES_PER_WORKER = 100  # below this a worker's start-up (importing ezkl) outweighs its share


def witness_outputs(part):
    """One contiguous part of the evaluation inputs, witnessed in order: outputs, samples, CPU, sources."""
    a, index, inputs = part
    data_path, witness_path = f"{a['witness']}.eval-input-{index}.json", f"{a['witness']}.eval-{index}.json"
    outputs, samples, cpu, sources = [], [], [], set()
    for x in inputs:
        with open(data_path, "w") as f:
            json.dump({"input_data": [x]}, f)
        s, c, _ = timed(1, ezkl.gen_witness, data=data_path, model=a["compiled"], output=witness_path)
        samples += s
        cpu += c
        with open(witness_path) as f:
            witness = json.load(f)
        values, source = rescaled_outputs(witness, int(a["output_scale"]))
        outputs.append(values)
        sources.add(source)
    return outputs, samples, cpu, sources


def rescaled_outputs(witness, scale):
    """The first output tensor of a witness as floats, and where the values came from."""
    pretty = witness.get("pretty_elements") or {}
    rescaled = pretty.get("rescaled_outputs")
    if rescaled and rescaled[0]:
        return [float(v) for v in rescaled[0]], "rescaled_outputs"
    felts = witness["outputs"][0]
    if hasattr(ezkl, "felt_to_float"):
        return [float(ezkl.felt_to_float(v, scale)) for v in felts], "felt_to_float"
    return [felt_to_float(v, scale) for v in felts], "felt_by_hand"


def felt_to_float(felt, scale):
    """A field element (little-endian hex, as ezkl writes it) to a float at `scale` (value / 2**scale)."""
    n = int.from_bytes(bytes.fromhex(felt[2:] if felt.startswith("0x") else felt), "little") % BN254_R
    if n > BN254_R // 2:
        n -= BN254_R
    return n / float(2 ** scale)


STAGES = {name[len("stage_"):]: fn for name, fn in list(globals().items()) if name.startswith("stage_")}


# --- entry points ------------------------------------------------------------------------------------

def run_stage(stage, args_file, result_file):
    with open(args_file) as f:
        args = json.load(f)
    try:
        samples, cpu, data = STAGES[stage](args)
    except Exception as exc:  # one readable last line for the tracker's record; the traceback stays above
        import traceback

        traceback.print_exc()
        print(f"ezkl {VERSION} {stage} failed: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
        return 1
    report = {"samples": samples, "cpu": cpu, "data": data}
    if "peak_rss" in data:
        report["peak_rss"] = data.pop("peak_rss")
    if CLEARED[0]:
        report["peak_rss_cleared"] = CLEARED[0]
    tmp = result_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f)
    os.replace(tmp, result_file)
    return 0


def bare(argv):
    """The whole pipeline in this one process: what a user would write by hand, to compare with the tracker."""
    p = argparse.ArgumentParser(prog="ezkl_stage.py bare", description=bare.__doc__)
    p.add_argument("--model", required=True, help="ONNX model")
    p.add_argument("--input", required=True, help='ezkl input JSON ({"input_data": [[...]]})')
    p.add_argument("--calibration", help="calibration JSON (default: --input)")
    p.add_argument("--workdir", required=True)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--target", default="resources", choices=("resources", "accuracy"))
    p.add_argument("--srs", help="an SRS file for the circuit's logrows (made with gen_srs if missing)")
    p.add_argument("--result", help="also write the summary JSON here")
    o = p.parse_args(argv)
    os.makedirs(o.workdir, exist_ok=True)
    w = lambda name: os.path.join(o.workdir, name)  # noqa: E731
    a = {"model": o.model, "data": o.input, "calibration": o.calibration or o.input, "target": o.target,
         "settings": w("settings.json"), "compiled": w("model.compiled"), "vk": w("vk.key"), "pk": w("pk.key"),
         "witness": w("witness.json"), "proof": w("proof.json"), "repeats": o.repeats}
    summary = {"ezkl_version": VERSION, "stages": {}}
    for stage in ("settings", "compile", "srs", "setup", "witness", "prove", "verify"):
        if stage == "srs":
            with open(a["settings"]) as f:
                a["logrows"] = json.load(f)["run_args"]["logrows"]
            a["srs"] = o.srs or w(f"kzg{a['logrows']}.srs")
            if os.path.exists(a["srs"]):
                continue
        samples, cpu, _ = STAGES[stage](a)
        summary["stages"][stage] = {"samples_s": samples, "cpu_s": cpu}
    summary["logrows"] = a["logrows"]
    summary["sizes"] = {k: os.path.getsize(a[f]) for k, f in
                        (("proof_bytes", "proof"), ("vk_bytes", "vk"), ("pk_bytes", "pk"), ("srs_bytes", "srs"))}
    # peak RSS of this whole process (all stages), as the kernel counts it
    summary["peak_rss_bytes"] = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, CLEARED[0])
    text = json.dumps(summary, indent=1)
    if o.result:
        with open(o.result, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


def main(argv):
    if argv and argv[0] == "bare":
        return bare(argv[1:])
    if len(argv) != 3 or argv[0] not in STAGES:
        print(f"usage: ezkl_stage.py {{{','.join(STAGES)}}} ARGS.json RESULT.json\n"
              f"       ezkl_stage.py bare --model M.onnx --input INPUT.json --workdir DIR [--repeats N]",
              file=sys.stderr)
        return 2
    return run_stage(*argv)


if __name__ == "__main__":
    status = main(sys.argv[1:])
    # Skip interpreter finalization: the releases with awaitables (pyo3-asyncio, up to 22.0.x) can abort
    # there ("PyGILState_Release: thread state ... must be current"), after the work is done and reported.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
