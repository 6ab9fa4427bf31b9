"""The snarkjs .ptau files the tracker writes from a known tau, checked without the writer's code, and
where a circuit's file comes from: one written file per power per machine, or a ceremony file the user
points at. (A Groth16 key made from a written file proves and verifies, and rejects a tampered proof, in
tests/test_circom_adapter.py.)"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_circom_adapter import make_job
from tracker.adapters import ptau
from tracker.adapters.circom import CircomAdapter

pytestmark = pytest.mark.slow  # an npm prefix with snarkjs (cached after the first run)
CHECK = ROOT / "tests" / "ptau_check.js"
POWER = 5
TAU_G1, LAGRANGE_G2 = 2, 13  # section ids


@pytest.fixture(scope="module")
def written(circom_build, tracker_cache, tmp_path_factory) -> tuple[Path, Path]:
    """A power-5 file written through the adapter into a directory of its own; (file, npm prefix)."""
    folder = tmp_path_factory.mktemp("ptau-dir")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ptau.DIR_ENV, str(folder))
        job = make_job(circom_build, tracker_cache, tmp_path_factory.mktemp("job"), "linear")
        result = job.new_result()
        args = {"prefix": str(job.build.node_prefix), "power": POWER}
        assert CircomAdapter().ptau(job, result, args), result.stages["ptau"].reason
    assert result.provenance["ptau"] == ptau.KNOWN_TAU and result.provenance["ptau_reused"] == "no"
    assert result.stages["ptau"].samples_s and result.stages["ptau"].cpu_s
    return Path(args["ptau"]), job.build.node_prefix


def check(prefix: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["node", CHECK, prefix, path], capture_output=True, text=True, timeout=600)


def test_every_section_holds_one_tau_and_its_lagrange_forms(written):
    path, prefix = written
    done = check(prefix, path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["power"] == POWER
    names = report["checks"]
    for section in ("tauG1", "alphaTauG1", "betaTauG1", "tauG2"):
        assert f"{section}: every point is tau times the one before" in names
    lagrange = [n for n in names if "the Lagrange form of section" in n]
    assert len(lagrange) == (POWER + 2) + 3 * (POWER + 1)  # tauG1 has one domain more: 2^(power+1)
    assert path.name == f"known-tau-bn128-{POWER:02d}.ptau" and path.with_suffix(".json").is_file()
    assert json.loads(path.with_suffix(".json").read_text())["kind"] == ptau.KNOWN_TAU


def section_offsets(data: bytes) -> dict[int, int]:
    """Where each section's data starts in a binfile: magic, version, count, then (id, u64 size, data)."""
    at, out = 12, {}
    for _ in range(int.from_bytes(data[8:12], "little")):
        ident, size = int.from_bytes(data[at:at + 4], "little"), int.from_bytes(data[at + 4:at + 12], "little")
        out[ident] = at + 12
        at += 12 + size
    return out


@pytest.mark.parametrize("section,size,expected", [(TAU_G1, 64, "tauG1: every point is tau"),
                                                   (LAGRANGE_G2, 128, "section 13, domain 2^2")])
def test_the_check_finds_two_points_swapped(written, tmp_path, section, size, expected):
    path, prefix = written
    data = bytearray(path.read_bytes())
    at = section_offsets(bytes(data))[section] + 3 * size  # points 3 and 4: in domain 2^2 of section 13
    data[at:at + 2 * size] = data[at + size:at + 2 * size] + data[at:at + size]
    bad = tmp_path / "bad.ptau"
    bad.write_bytes(bytes(data))
    done = check(prefix, bad)
    assert done.returncode == 1 and expected in done.stderr, (done.stdout, done.stderr)


def test_a_second_cache_on_the_machine_reuses_the_file(written, circom_build, tmp_path, monkeypatch):
    path, _ = written
    monkeypatch.setenv(ptau.DIR_ENV, str(path.parent))
    before = path.stat().st_mtime_ns
    job = make_job(circom_build, tmp_path / "another-cache", tmp_path / "job", "linear")
    result = job.new_result()
    args = {"prefix": str(job.build.node_prefix), "power": POWER}
    assert CircomAdapter().ptau(job, result, args)
    assert args["ptau"] == str(path) and path.stat().st_mtime_ns == before
    assert result.provenance["ptau_reused"] == "yes" and result.stages["ptau"].samples_s == []
    assert sorted(p.name for p in path.parent.iterdir()) == [f".{path.name}.lock", path.with_suffix(".json").name,
                                                             path.name]


def test_a_ceremony_directory_gives_the_smallest_file_big_enough(written, circom_build, tmp_path, monkeypatch):
    path, _ = written
    folder = tmp_path / "hermez"
    folder.mkdir()
    for power in (5, 8, 12):  # named as the Hermez files are
        shutil.copy(path, folder / f"powersOfTau28_hez_final_{power:02d}.ptau")
    monkeypatch.setenv(ptau.CEREMONY_ENV, str(folder))
    monkeypatch.setenv(ptau.DIR_ENV, str(tmp_path / "never-written"))
    job = make_job(circom_build, tmp_path / "cache", tmp_path / "job", "linear")
    result = job.new_result()
    args = {"prefix": str(job.build.node_prefix), "power": 7}
    assert CircomAdapter().ptau(job, result, args)
    assert args["ptau"] == str(folder / "powersOfTau28_hez_final_08.ptau")
    assert result.provenance["ptau"] == f"ceremony file powersOfTau28_hez_final_08.ptau (from {ptau.CEREMONY_ENV})"
    assert not (tmp_path / "never-written").exists()
    too_big = job.new_result()
    assert not CircomAdapter().ptau(job, too_big, {**args, "power": 13})
    assert too_big.stages["ptau"].status == "error"
    assert too_big.stages["ptau"].reason == (f"{ptau.CEREMONY_ENV}={folder}: no .ptau file of power 13 or more "
                                             "(have: 5, 8, 12)")
    monkeypatch.setenv(ptau.CEREMONY_ENV, str(tmp_path / "missing"))
    missing = job.new_result()
    assert not CircomAdapter().ptau(job, missing, args)
    assert missing.stages["ptau"].reason == f"{ptau.CEREMONY_ENV}={tmp_path / 'missing'}: not a directory"
