"""The default job, README command 1 (`zkml-tracker run` with no selection): what it selects, without
running a prover (a real run takes minutes: its figure is measured and said in the README)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from tests.conftest import ROOT
from tracker.cli import parser
from tracker.commands.run import _clean, request_from
from tracker.adapters import load_config
from tracker.history import select
from tracker.history.revisions import Revision
from tracker.records import Status
from tracker.run.runner import FrameworkOutcome, RevisionOutcome, wanted


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
