"""Names and counts on the command line, refused before any work starts: one line, exit 2, never an exit
status that means a verdict (compare's 1, regressions' 3), nothing built, locked or written.

Each case runs the real command on a throwaway framework repository with a known history.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.synthetic import Step, add_commit, config_text, make_repo
from tracker.cli import main

MODELS = ("(known: linear, mlp, cnn, 196_25_10, 784_56_10, 196_24_14_10, 14_5_11_80_10_3, 28_6_16_10_5, "
          "28_6_16_120_84_10_5)")


@pytest.fixture
def tracker(tmp_path):
    repo = tmp_path / "upstream"
    shas = make_repo(repo, [Step(subject=f"commit {i}") for i in range(4)])
    (tmp_path / "frameworks.yaml").write_text(config_text(repo))
    (tmp_path / "asv.conf.json").write_text((Path(__file__).parents[1] / "asv.conf.json").read_text())
    return tmp_path, shas


CASES = [  # (command line after the global options, the line said)
    (["compare", "-f", "synth", "-m", "nope", "HEAD~1", "HEAD"], f"--model nope: unknown model {MODELS}"),
    (["compare", "-f", "synth", "--variant", "nope", "HEAD~1", "HEAD"],
     "--variant nope: synth has no such variant (it has default)"),
    (["compare", "-f", "synth", "--rounds", "0", "HEAD~1", "HEAD"], "--rounds 0: must be 1 or more"),
    (["compare", "-f", "synth", "--rounds", "-3", "HEAD~1", "HEAD"], "--rounds -3: must be 1 or more"),
    (["compare", "-f", "synth", "nope", "HEAD"], "base nope: synth: unknown revision 'nope'"),
    (["compare", "-f", "nope", "HEAD~1", "HEAD"], "--framework nope: unknown framework (known: synth)"),
    (["run", "--steps", "0"], "--steps 0: must be 1 or more"),
    (["run", "--steps", "-1"], "--steps -1: must be 1 or more"),
    (["run", "--latest", "0"], "--latest 0: must be 1 or more"),
    (["run", "--latest", "-5"], "--latest -5: must be 1 or more"),
    (["run", "--eval-count", "0"], "--eval-count 0: must be 1 or more"),
    (["run", "-m", "nope"], f"--model nope: unknown model {MODELS}"),
    (["run", "--variant", "nope"], "--variant nope: synth has no such variant (it has default)"),
    (["run", "-r", "nope"], "--revision nope: synth: unknown revision 'nope'"),
    (["run", "--range", "HEAD~2..nope"], "--range nope: synth: unknown revision 'nope'"),
    (["run", "--range", "HEAD~2"], "--range HEAD~2: need A..B (two revisions)"),
    (["run", "-f", "nope"], "--framework nope: unknown framework (known: synth)"),
    (["nightly", "-m", "nope"], f"--model nope: unknown model {MODELS}"),
    (["nightly", "-f", "nope"], "--framework nope: unknown framework (known: synth)"),
    (["bisect", "-f", "synth", "-m", "nope", "--metric", "prove_time", "HEAD~3", "HEAD"],
     f"--model nope: unknown model {MODELS}"),
    (["bisect", "-f", "synth", "-m", "linear", "--variant", "nope", "--metric", "prove_time", "HEAD~3", "HEAD"],
     "--variant nope: synth has no such variant (it has default)"),
    (["bisect", "-f", "synth", "-m", "linear", "--repeats", "0", "--metric", "prove_time", "HEAD~3", "HEAD"],
     "--repeats 0: must be 1 or more"),
    (["bisect", "-f", "synth", "-m", "linear", "--rounds", "0", "--metric", "prove_time", "HEAD~3", "HEAD"],
     "--rounds 0: must be 1 or more"),
    (["bisect", "-f", "synth", "-m", "linear", "--rounds", "-3", "--metric", "prove_time", "HEAD~3", "HEAD"],
     "--rounds -3: must be 1 or more"),
    (["bisect", "-f", "synth", "-m", "linear", "--metric", "prove_time", "nope", "HEAD"],
     "good nope: synth: unknown revision 'nope'"),
    (["regressions", "-f", "nope"], "--framework nope: unknown framework (known: synth)"),
    (["regressions", "--confirm", "-f", "nope"], "--framework nope: unknown framework (known: synth)"),
]


@pytest.mark.parametrize("argv, said", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_wrong_name_or_count_is_one_line_and_exit_2_before_any_work(tracker, capsys, argv, said):
    root, _ = tracker
    status = main(["--config", str(root / "frameworks.yaml"), "--cache", str(root / "cache"), *argv])
    out = capsys.readouterr()
    assert status == 2
    assert out.err.splitlines() == [f"zkml-tracker: {said}"]
    assert out.out == ""
    assert not (root / "results").exists()  # no lock taken, nothing recorded
    assert not (root / "cache" / "builds").exists()


@pytest.mark.parametrize("shard, said", [("0/2", "shard '0/2': need 1 <= I <= N"),
                                         ("3/2", "shard '3/2': need 1 <= I <= N"),
                                         ("1/0", "shard '1/0': need 1 <= I <= N"),
                                         ("1/-2", "shard '1/-2': need 1 <= I <= N"),
                                         ("a/b", "'a/b' is not I/N")])
def test_a_shard_out_of_range_is_one_line_and_exit_2(tracker, capsys, shard, said):
    root, _ = tracker
    with pytest.raises(SystemExit) as ended:
        main(["--config", str(root / "frameworks.yaml"), "run", "--shard", shard])
    assert ended.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"zkml-tracker run: argument --shard: {said} (see zkml-tracker run --help)"]
    assert not (root / "results").exists()


def test_names_and_counts_that_exist_pass_and_the_command_runs(tracker, capsys):
    """The checks let through what exists: a pinned revision by sha and a range run, exit 0."""
    root, shas = tracker
    status = main(["--config", str(root / "frameworks.yaml"), "--cache", str(root / "cache"),
                   "--results", str(root / "results"), "run", "--no-publish", "-r", shas[1][:10], "-m", "linear",
                   "--variant", "default", "--repeats", "1", "--latest", "1", "--steps", "1"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"synth: 1 revision(s) to run: {shas[1][:8]}" in out


def test_a_revision_is_checked_against_the_cached_mirror_first_then_the_remote(tracker, capsys):
    """Known to the mirror: no fetch is needed (the remote may be gone); newer than the mirror: fetched."""
    root, shas = tracker
    args = ["--config", str(root / "frameworks.yaml"), "--cache", str(root / "cache"), "--results",
            str(root / "results"), "run", "--no-publish", "-m", "linear", "--repeats", "1"]
    assert main([*args, "-r", shas[0][:10]]) == 0
    new = add_commit(root / "upstream", Step(subject="after the mirror was made"))
    capsys.readouterr()
    assert main([*args, "-r", new[:10]]) == 0  # not in the mirror yet: the remote is asked
    assert f"synth: 1 revision(s) to run: {new[:8]}" in capsys.readouterr().out
    (root / "upstream").rename(root / "gone")
    assert main([*args, "-r", shas[1][:10]]) == 0  # the remote gone: the mirror knows it
    out = capsys.readouterr().out
    assert "using the cached mirror" in out and f"synth: 1 revision(s) to run: {shas[1][:8]}" in out
    assert main([*args, "-r", "nope"]) == 2
    assert capsys.readouterr().err == "zkml-tracker: --revision nope: synth: unknown revision 'nope'\n"
