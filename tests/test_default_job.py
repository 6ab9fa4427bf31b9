"""The default job, README command 1 (`zkml-tracker run` with no selection): what it selects, without
running a prover (a real run takes minutes: its figure is measured and said in the README)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from tests.conftest import ROOT
from tests.synthetic import Step, config_text, make_repo
from tracker.cli import main
from tracker.config import ConfigError, read_config
from tracker.cli import parser
from tracker.commands.run import _clean, request_from
from tracker.adapters import load_config
from tracker.history import select
from tracker.history.revisions import Revision
from tracker.records import Status
from tracker.publish.site import never_run
from tracker.run.runner import FrameworkOutcome, RevisionOutcome, left_out, wanted


def readme_command_1() -> str:
    """The first shell block of the README: install, then the default job."""
    return re.search(r"```sh\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S).group(1)


def test_readme_command_1_runs_every_framework_with_the_defaults():
    command = readme_command_1()
    assert command.endswith("&& .venv/bin/zkml-tracker run"), command
    request = request_from(parser().parse_args(["run"]))
    assert request.frameworks is None and request.latest is None and request.suite is None  # all, as configured


def test_the_default_job_proves_ezkl_and_circom_at_two_releases_each_on_the_tiny_suite():
    config = load_config(ROOT / "frameworks.yaml")
    request = request_from(parser().parse_args(["run"]))
    releases = [Revision(f"{i:040x}", v, datetime(2025, 1, i + 1, tzinfo=timezone.utc), version=v)
                for i, v in enumerate(["1.0.0", "1.1.0", "1.2.0", "2.0.0"])]
    for name in ("ezkl", "circom"):
        fw = config.framework(name)
        assert fw.history.kind == "releases"
        picked = select.latest(releases, request.latest or fw.history.select.latest)
        assert [r.label for r in picked] == ["1.2.0", "2.0.0"], name
        models, _ = wanted(config, fw, request)
        assert models == ["linear", "mlp", "cnn"], name
    assert config.default_suite == "tiny"


def test_a_model_a_release_cannot_express_is_not_a_failure_of_the_run():
    rev = Revision("c" * 40, "1.3.0", datetime(2025, 1, 1, tzinfo=timezone.utc), version="1.3.0")
    unsupported = RevisionOutcome(rev, Status.FAILED, "cnn[default] unsupported: no MaxPooling2D.circom",
                                  models={"linear[default]": Status.OK, "cnn[default]": Status.UNSUPPORTED})
    assert _clean(FrameworkOutcome("circom", Status.OK, revisions=[unsupported]))
    failed = RevisionOutcome(rev, Status.FAILED, "mlp[default] error",
                             models={"mlp[default]": Status.ERROR, "cnn[default]": Status.UNSUPPORTED})
    assert not _clean(FrameworkOutcome("circom", Status.OK, revisions=[failed]))
    assert not _clean(FrameworkOutcome("circom", Status.OK, revisions=[RevisionOutcome(rev, Status.BUILD_FAILED)]))


def test_the_default_job_leaves_o1js_out_and_names_it_and_a_named_or_every_framework_run_takes_it():
    """o1js's Pickles proofs take 23 min for the tiny suite at one release here: the default job (under 10
    min) leaves it out and says how to run it; `-f o1js` and `--all` take it."""
    config = load_config(ROOT / "frameworks.yaml")
    assert [fw.name for fw in config.frameworks if not fw.default_job] == ["o1js"]
    assert [fw.name for fw in left_out(config, request_from(parser().parse_args(["run"])))] == ["o1js"]
    assert left_out(config, request_from(parser().parse_args(["run", "-f", "o1js"]))) == []
    everything = request_from(parser().parse_args(["run", "--all"]))
    assert left_out(config, everything) == [] and not everything.default_job and everything.frameworks is None
    assert "zkml-tracker run -f o1js" in never_run(config.framework("o1js"))
    assert never_run(config.framework("ezkl")) == "no results yet"


def test_a_default_job_that_is_not_true_or_false_is_named_with_its_line(tmp_path):
    text = (ROOT / "frameworks.yaml").read_text().replace("default_job: false", "default_job: sometimes")
    path = tmp_path / "frameworks.yaml"
    path.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "default_job: sometimes" in ln)
    with pytest.raises(ConfigError) as caught:
        read_config(path)
    message = str(caught.value)
    assert f"frameworks.yaml:{line}" in message and "default_job" in message and "true or false" in message


@pytest.mark.slow
def test_the_default_job_runs_only_what_it_holds_and_says_what_it_left_out(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZKML_TRACKER_MACHINE", "test-machine")
    repo = tmp_path / "repo"
    make_repo(repo, [Step(delay=0.01)])
    text = config_text(repo)
    slow = text[text.index("  - name: synth"):].replace("name: synth", "name: slow")
    slow = slow.replace("    stages:", "    default_job: false\n    stages:")
    (tmp_path / "frameworks.yaml").write_text(text + slow)
    (tmp_path / "asv.conf.json").write_text((ROOT / "asv.conf.json").read_text())
    args = ["--config", str(tmp_path / "frameworks.yaml"), "--cache", str(tmp_path / "cache"), "run",
            "-m", "linear", "--repeats", "1", "--no-publish"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "slow: left out of the default job (`default_job: false`, the framework at frameworks.yaml line 14); " \
           "`zkml-tracker run -f slow` runs it" in out
    results = tmp_path / "results"
    assert list((results / "synth" / "records").rglob("*.json")) and not (results / "slow").exists()
    assert main(args + ["--all"]) == 0
    assert "left out" not in capsys.readouterr().out and list((results / "slow" / "records").rglob("*.json"))
    assert main(args[:4] + ["list"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line[:1].strip()}
    assert listed["slow"].endswith("(not in the default job: run -f slow)") and "default job" not in listed["synth"]
