"""The machine's calibration (modular multiplications a second) and the stages' energy.

The calibration is the real Go program over gnark-crypto, built with the machine's Go; its arithmetic is
checked against Python's own modular exponentiation (a known count of multiplications gives a known
product). Energy is read from a directory laid out like /sys/class/powercap, since these machines have
no RAPL counters: a stage command moves the fake counter, as a package's would move while it runs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.test_readme_adapter import _job, prover_on_path, readme_adapter  # noqa: F401 - a fixture
from tracker import calibration, energy
from tracker.calibration import MODULI
from tracker.fsutil import atomic_write_json
from tracker.store.paths import FrameworkStore

needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="the calibration is built with Go")
MACHINE = {"host": "bench-1", "cpu": "x86_64", "cores": "2"}


@needs_go
def test_the_calibration_does_the_multiplications_it_counts(tmp_path):
    binary = calibration.build_program(tmp_path)
    out = subprocess.run([binary, "-rounds", "20000", "-repeats", "2"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    report = json.loads(out)
    for name, modulus in MODULI.items():
        for workers, run in report["fields"][name].items():
            assert run["multiplications_per_worker"] == 80_000         # 4 chains x 20,000 rounds
            assert int(run["first_chain_result"]) == 3 * pow(5, 20_000, modulus) % modulus
            assert len(run["rates"]) == 2 and all(r > 0 for r in run["rates"])
            assert all(r >= 0 for r in run["cpu_rates"])                # 0: too short for the thread clock
    rates = calibration.parse_report(out, 20_000)
    assert set(rates) == set(MODULI) and {"single", "all"} <= set(rates["bn254_fr"])


def test_a_wrong_product_is_not_a_rate():
    fake = {"chains": 4, "fields": {"bn254_fr": {"single": {
        "rates": [1e9], "multiplications_per_worker": 4000, "first_chain_result": "12345"}}}}
    with pytest.raises(ValueError, match="wrong product"):
        calibration.parse_report(json.dumps(fake), 1000)


@needs_go
def test_the_calibration_is_kept_per_machine_and_made_again_when_the_machine_changes(tmp_path):
    first = calibration.current(MACHINE, tmp_path)
    assert first.measured, first.reason
    assert calibration.current(MACHINE, tmp_path).measured_at == first.measured_at   # kept, not measured again
    summary = first.summary()
    assert summary["mmops"]["bn254_fr"]["single"]["n"] == calibration.REPEATS
    assert summary["mmops"]["bn254_fr"]["per_cpu_second"]["median"] > 1               # over a million a second
    other = calibration.current({**MACHINE, "cpu": "another"}, tmp_path, measure=False)
    assert other.key != first.key and not other.measured and "not calibrated yet" in other.reason


def test_no_go_is_a_reason_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    cal = calibration.current(MACHINE, tmp_path)
    assert not cal.measured and cal.reason.startswith("calibration failed: go not found")
    assert cal.summary() == {"key": cal.key, "status": "not measured", "reason": cal.reason}


def _powercap(root: Path, zones: dict[str, tuple[int, int]]) -> Path:
    """A tree laid out like /sys/class/powercap: zone -> (energy_uj, max_energy_range_uj), plus a sub-zone."""
    for name, (counter, wraps) in zones.items():
        zone = root / name
        zone.mkdir(parents=True)
        (zone / "name").write_text(f"package-{name[-1]}\n")
        (zone / "energy_uj").write_text(f"{counter}\n")
        (zone / "max_energy_range_uj").write_text(f"{wraps}\n")
        sub = root / f"{name}:0"                    # a core sub-zone: inside its package, never added twice
        sub.mkdir()
        (sub / "energy_uj").write_text("999999999\n")
    return root


def test_energy_is_the_sum_of_the_packages_and_a_wrap_is_counted_once(tmp_path):
    root = _powercap(tmp_path / "powercap", {"intel-rapl:0": (1_000_000, 10_000_000),
                                             "intel-rapl:1": (9_500_000, 10_000_000)})
    meter = energy.Meter(root)
    assert [z.name for z in meter.zones] == ["package-0", "package-1"]
    meter.start()
    (root / "intel-rapl:0" / "energy_uj").write_text("3500000\n")      # 2.5 J
    (root / "intel-rapl:1" / "energy_uj").write_text("500000\n")       # wrapped: 0.5 + 0.5 = 1.0 J
    assert meter.joules() == pytest.approx(3.5)


def test_no_powercap_says_not_measured_here(tmp_path):
    meter, reason = energy.meter_or_reason(tmp_path / "absent")
    assert meter is None and reason.startswith("not measured here: no ") and "virtual machine" in reason
    assert energy.meter_or_reason(energy.POWERCAP)[1].startswith("not measured here") or \
        energy.POWERCAP.is_dir()


def test_an_unreadable_counter_says_why(request):
    """As another user (nobody when the tests run as root), a counter readable by root only is a reason."""
    base = Path(tempfile.mkdtemp(prefix="powercap-", dir="/tmp"))   # a place every user may reach
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    base.chmod(0o755)
    root = _powercap(base / "powercap", {"intel-rapl:0": (1, 10)})
    (root / "intel-rapl:0" / "energy_uj").chmod(0o400)
    code = ("import sys, os; sys.path.insert(0, sys.argv[2]); from pathlib import Path; "
            "from tracker import energy; print(energy.meter_or_reason(Path(sys.argv[1]))[1])")
    as_other = {"user": 65534, "group": 65534} if os.getuid() == 0 else {}
    python = sys.executable
    if as_other:  # the venv's interpreter may live where nobody may go (/root): the system's, which may not
        python = "/usr/bin/python3"
        if not os.access(python, os.X_OK):
            pytest.skip("no interpreter another user can run")
    out = subprocess.run([python, "-c", code, root, str(Path(energy.__file__).parents[1])],
                         capture_output=True, text=True, timeout=60, **as_other)
    assert out.returncode == 0, out.stderr
    assert "energy_uj is not readable by uid" in out.stdout and "only root" in out.stdout


def test_a_stage_records_the_energy_it_used_and_the_record_its_calibration(tmp_path, prover_on_path, monkeypatch):
    root = _powercap(tmp_path / "powercap", {"intel-rapl:0": (1_000_000, 10**12)})
    counter = root / "intel-rapl:0" / "energy_uj"
    # every prover command adds 2 J to the package counter, as the package would while the stage runs
    prover_on_path.write_text(prover_on_path.read_text().replace(
        'case "$1" in', f'echo $(( $(cat {counter}) + 2000000 )) > {counter}\ncase "$1" in'))
    monkeypatch.setenv(energy.ROOT_ENV, str(root))
    result = readme_adapter()().prove(_job(tmp_path))
    assert result.status == "ok", result.reason
    assert result.stages["setup"].energy_j == pytest.approx(2.0)     # one run of the command
    assert result.stages["prove"].energy_j == pytest.approx(4.0)     # two repeats in one child
    assert result.energy == ""
    assert result.calibration["key"] == calibration.calibration_key(result.machine)
    monkeypatch.setenv(energy.ROOT_ENV, str(tmp_path / "absent"))
    bare = readme_adapter()().prove(_job(tmp_path))
    assert bare.stages["prove"].energy_j is None and bare.energy.startswith("not measured here")


def _after_each_run(binary: Path, counter: Path, microjoules: int) -> Path:
    """The calibration program, then the package counter moved by `microjoules` as the packages would have
    while it ran (these machines have no counter that moves by itself)."""
    wrapper = binary.parent / "modmul-with-energy"
    wrapper.write_text(f'#!/bin/sh\n"{binary}" "$@" || exit $?\n'
                       f'echo $(( $(cat {counter}) + {microjoules} )) > {counter}\n')
    wrapper.chmod(0o755)
    return wrapper


@needs_go
def test_mmops_per_watt_is_the_multiplications_done_over_the_joules_read(tmp_path):
    root = _powercap(tmp_path / "powercap", {"intel-rapl:0": (5_000_000, 10**12)})
    wrapper = _after_each_run(calibration.build_program(tmp_path), root / "intel-rapl:0" / "energy_uj", 2_000_000)
    scores, why = calibration.per_watt(wrapper, root, 20_000, 2)
    assert why == "" and set(scores) == set(MODULI)
    done = 20_000 * 4 * os.cpu_count() * 2                  # rounds x chains x cores x repeats, on all cores
    for name in MODULI:
        assert scores[name] == pytest.approx(done / 2.0 / 1e6)    # 2 J a run: M multiplications a joule


@needs_go
def test_a_counter_that_does_not_move_or_is_absent_gives_no_score_and_says_why(tmp_path, monkeypatch):
    root = _powercap(tmp_path / "powercap", {"intel-rapl:0": (5_000_000, 10**12)})
    scores, why = calibration.per_watt(calibration.build_program(tmp_path), root, 20_000, 1)
    assert scores == {} and why.startswith("not measured here: the package counters under ") and "did not move" in why
    monkeypatch.setenv(energy.ROOT_ENV, str(tmp_path / "absent"))
    cal = calibration.calibrate(MACHINE, "k", tmp_path, rounds=20_000, repeats=2)
    assert cal.measured and cal.per_watt == {}
    assert cal.summary()["energy"].startswith("not measured here: no ") and "mmops_per_watt" not in cal.summary()
    assert "MMOPS per Watt: not measured here: no " in calibration.describe(cal)
    kept = calibration.Calibration.from_json(json.loads(json.dumps(cal.to_json())))
    assert kept.energy == cal.energy and kept.rates == cal.rates


def test_a_kept_score_is_in_the_summary_and_the_description():
    cal = calibration.Calibration("k", MACHINE, "2026-12-04T00:00:00+00:00",
                                  rates={"bn254_fr": {"single": calibration.Rate.of([4e7, 5e7])}},
                                  per_watt={"bn254_fr": 1.25})
    kept = calibration.Calibration.from_json(cal.to_json())
    assert kept.per_watt == {"bn254_fr": 1.25} and kept.summary()["mmops_per_watt"] == {"bn254_fr": 1.25}
    assert "MMOPS per Watt, all cores: BN254 scalar field (254-bit) 1.25" in calibration.describe(kept)
    assert calibration.Calibration.from_json({**cal.to_json(), "version": 1}) is None   # measured again


def test_the_cpu_model_is_part_of_the_machine_and_of_the_calibration_key(tmp_path):
    from tracker.records import cpu_model, machine_info

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7763 64-Core Processor\n\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC 7763 64-Core Processor\n")
    assert cpu_model(info) == "AMD EPYC 7763 64-Core Processor"
    info.write_text("processor\t: 0\nBogoMIPS\t: 108.00\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n")
    assert cpu_model(info) == "Raspberry Pi 4 Model B Rev 1.4"
    assert cpu_model(tmp_path / "absent") == ""
    assert "cpu_model" in machine_info()
    other_cpu = {**MACHINE, "cpu_model": "AMD EPYC 7763 64-Core Processor"}
    assert calibration.calibration_key(other_cpu) != calibration.calibration_key({**MACHINE, "cpu_model": "Xeon"})


def test_another_tracker_version_is_calibrated_again(tmp_path, monkeypatch):
    key = calibration.calibration_key(MACHINE)
    atomic_write_json(tmp_path / "calibration" / f"{key}.json",
                      calibration.Calibration(key, MACHINE, "2026-12-04T00:00:00+00:00",
                                              rates={"bn254_fr": {"single": calibration.Rate.of([4e7])}}).to_json())
    assert calibration.current(MACHINE, tmp_path, measure=False).measured              # kept for this version
    monkeypatch.setattr(calibration, "__version__", calibration.__version__ + ".next")
    again = calibration.current(MACHINE, tmp_path, measure=False)
    assert again.key != key and not again.measured and "not calibrated yet" in again.reason


def _calibrated(key: str, median: float, spread: float) -> dict:
    return {"key": key, "mmops": {"bn254_fr": {"per_cpu_second": {"median": median, "spread": spread, "n": 5}}}}


def test_a_step_across_a_changed_calibration_is_the_machines(tmp_path):
    from tracker.layout import Layout
    from tracker.metrics import BY_NAME
    from tracker.records import ModelResult, save
    from tracker.report.machines import calibration_change, machine_change
    from tracker.report.change import Change, Point

    assert calibration_change(_calibrated("a", 42.0, 0.1), _calibrated("b", 30.0, 0.1)) == \
        "calibration BN254 42.0 -> 30.0 M multiplications a CPU second"
    assert calibration_change(_calibrated("a", 42.0, 0.1), _calibrated("b", 39.0, 0.1)) == ""   # within spread
    assert calibration_change(_calibrated("a", 42.0, 0.1), _calibrated("a", 30.0, 0.1)) == ""   # one calibration
    assert calibration_change({}, _calibrated("b", 30.0, 0.1)) == ""                            # not measured
    layout = Layout(tmp_path / "results", tmp_path / "html", tmp_path / "cache")
    for sha, cal in (("a" * 40, _calibrated("a", 42.0, 0.05)), ("b" * 40, _calibrated("b", 21.0, 0.05))):
        save(FrameworkStore(layout, "fw").records, ModelResult("fw", sha, "mlp", "default", machine=MACHINE, calibration=cal))
    change = Change("fw", "mlp", "default", BY_NAME["prove_cpu_time"], Point("a" * 40, (1.0,)),
                    Point("b" * 40, (2.0,)), status="candidate")
    assert machine_change(layout, change) == "calibration BN254 42.0 -> 21.0 M multiplications a CPU second"


def _run_on_cpu(t, cpuinfo: Path | None, cache: Path, shas: list[str]) -> None:
    """`run` as a child on this host, its /proc/cpuinfo replaced by `cpuinfo` in a mount namespace of its
    own (root only): what a runner sees after its CPU was changed under the same host name."""
    command = [sys.executable, "-m", "tracker", "--config", str(t.config), "--results", str(t.results),
               "--html", str(t.html), "--cache", str(t.root / "cache"), "run", "-m", "linear", "--no-publish",
               *(x for sha in shas for x in ("-r", sha))]
    if cpuinfo is not None:
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" /proc/cpuinfo && exec "$@"', str(cpuinfo), *command]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "ZKML_TRACKER_MACHINE": "one-runner",
           "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr


def _slower(cal: calibration.Calibration, machine: dict, factor: float) -> calibration.Calibration:
    """The calibration a CPU `factor` times slower would have measured (this machine cannot be slowed)."""
    rates = {f: {w: calibration.Rate.of([x / factor for x in r.samples]) for w, r in by.items()}
             for f, by in cal.rates.items()}
    return calibration.Calibration(calibration.calibration_key(machine), machine, cal.measured_at, cal.library,
                                   rates, load=cal.load, energy=cal.energy)


@needs_go
@pytest.mark.slow
def test_a_step_where_the_cpu_and_its_calibration_changed_is_the_machines_not_the_frameworks(tmp_path, capsys):
    """One host under one machine name runs the first four commits; then its CPU is another (the kernel names
    another model), whose calibration does half the multiplications a CPU second, and the prover's wall time
    grows by 0.3 s. `regressions` files the step under "machine changed" with the two calibrations, not as a
    candidate; the same records with one calibration throughout make it the framework's candidate."""
    from tests.synthetic import Step, make_repo
    from tests.test_faults_readers import report
    from tests.test_nightly import Tracker
    from tracker.fsutil import read_json
    from tracker.records import machine_info

    if os.geteuid() != 0 or subprocess.run(["unshare", "--mount", "true"]).returncode != 0:
        pytest.skip("another CPU model for a child needs a mount namespace (root)")
    stall, repo, cache = tmp_path / "slow-cpu", tmp_path / "repo", tmp_path / "xdg"
    shas = make_repo(repo, [Step(delay=0.0, stall_if=str(stall)) for _ in range(7)])
    t = Tracker(tmp_path, repo)
    fast = calibration.current(machine_info(), cache / "zkml-tracker")     # measured here, for real
    assert fast.measured, fast.reason
    _run_on_cpu(t, None, cache, shas[:4])

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: A slower CPU\n\nprocessor\t: 1\nmodel name\t: A slower CPU\n")
    slow = _slower(fast, {**machine_info(), "cpu_model": "A slower CPU"}, 2.0)
    atomic_write_json(cache / "zkml-tracker" / "calibration" / f"{slow.key}.json", slow.to_json())
    stall.write_text("")
    _run_on_cpu(t, cpuinfo, cache, shas[4:])

    record = lambda sha: t.results / "synth" / "records" / sha / "linear--default.json"  # noqa: E731
    assert read_json(record(shas[4]))["machine"]["cpu_model"] == "A slower CPU"
    assert read_json(record(shas[4]))["calibration"]["key"] == slow.key != fast.key
    status, rep, _ = report(t, capsys)
    assert status == 0 and rep["regressions"] == [], rep
    assert shas[4] not in [r["first_bad"] for r in rep["candidates"] + rep["too_early"]], rep
    [step] = [r for r in rep["machine_changed"] if r["metric"] == "prove_time"]
    assert step["first_bad"] == shas[4] and step["ratio"] > 1.3
    before, after = fast.rate() / 1e6, slow.rate() / 1e6
    assert step["evidence"]["machines"] == \
        f"calibration BN254 {before:.1f} -> {after:.1f} M multiplications a CPU second"

    for sha in shas[4:]:   # the control: one calibration on both sides, and the step is the framework's
        data = read_json(record(sha))
        atomic_write_json(record(sha), {**data, "calibration": fast.summary()})
    status, rep, _ = report(t, capsys)
    assert rep["machine_changed"] == [], rep["machine_changed"]
    assert shas[4] in [r["first_bad"] for r in rep["candidates"] + rep["too_early"] if r["metric"] == "prove_time"]


@needs_go
def test_a_bisect_on_a_machine_never_calibrated_calibrates_it_and_its_records_carry_it(tmp_path, monkeypatch, capsys):
    """bisect runs revisions without `run`: it too measures the calibration first, so the records it makes
    carry it rather than "not calibrated yet"."""
    from tests.synthetic import Step, make_repo
    from tests.test_nightly import Tracker
    from tracker.fsutil import read_json

    gocache = subprocess.run(["go", "env", "GOCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    monkeypatch.setenv("GOCACHE", gocache)              # Go's own build cache stays where it was
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))   # a machine with no calibration kept
    shas = make_repo(tmp_path / "repo", [Step(delay=0.0, proof_bytes=1200 if i >= 2 else 1000) for i in range(4)])
    t = Tracker(tmp_path, tmp_path / "repo")
    assert t("bisect", "-f", "synth", "-m", "linear", "--metric", "proof_size", shas[0], shas[-1]) == 0
    out = capsys.readouterr().out
    assert f"first commit with the new proof_size: {shas[2]}" in out
    assert "machine calibration (gnark-crypto" in out and "M/s modular multiplications a CPU second" in out
    made = sorted((t.results / "synth" / "records").glob("*/linear--default.json"))
    assert len(made) >= 3
    for path in made:
        cal = read_json(path)["calibration"]
        assert cal["mmops"]["bn254_fr"]["per_cpu_second"]["median"] > 1, (path, cal)


@needs_go
def test_two_processes_starting_together_measure_the_calibration_once(tmp_path):
    """Two trackers starting at once on a machine with no calibration kept (shards, test workers): one
    measures, the other waits and reads what it kept, so both sets of records carry the same figures."""
    calibration.current(MACHINE, tmp_path / "warm")       # the Go program built once, outside the race
    shutil.copytree(tmp_path / "warm" / "calibration" / "bin", tmp_path / "cold" / "calibration" / "bin")
    code = ("import json, sys; from pathlib import Path; from tracker import calibration; "
            f"c = calibration.current({MACHINE!r}, Path(sys.argv[1])); "
            "print(json.dumps([c.measured_at, c.to_json()['rates']]))")
    both = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "cold")], stdout=subprocess.PIPE,
                             text=True) for _ in range(2)]
    seen = [json.loads(p.communicate(timeout=600)[0]) for p in both]
    assert all(p.returncode == 0 for p in both)
    assert seen[0] == seen[1]            # the same measurement, samples and all: one process made it
    assert len(list((tmp_path / "cold" / "calibration").glob("*.json"))) == 1
