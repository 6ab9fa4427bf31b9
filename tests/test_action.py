"""The pull-request check (action.yml): the README's snippet run through the action's own script.

A framework's repository is a throwaway git repo (tests/synthetic.py: a prover doing CPU-bound work) on a
local origin; the runner's workspace is a full clone of it, checked out at the pull request's head, as
`actions/checkout` with `fetch-depth: 0` leaves it. The action's `run` step is run with bash, its inputs
filled from the README snippet's `with:` and action.yml's defaults, as the runner would.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.synthetic import Step, make_repo

ROOT = Path(__file__).resolve().parents[1]
WORK = 3_000_000  # about 0.3 s of CPU per proof


def readme_snippet() -> dict:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- pr-check snippet")[1].split("```yaml\n")[1].split("```")[0]
    return yaml.safe_load(block)


def action_step(inputs: dict) -> tuple[str, dict]:
    """The action's `run` step and its environment, `${{ inputs.x }}` filled as the runner fills it."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update({k: str(v) for k, v in inputs.items()})
    [step] = [s for s in action["runs"]["steps"] if "run" in s]
    env = {k: re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], v)
           for k, v in step["env"].items()}
    return step["run"], env


def run_check(workspace: Path, tmp_path: Path, inputs: dict, name: str) -> tuple[int, str, str]:
    script, env = action_step(inputs)
    runner = tmp_path / f"runner-{name}"
    runner.mkdir()
    summary, outputs = runner / "summary.md", runner / "outputs"
    env = {**os.environ, **env, "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_WORKSPACE": str(workspace),
           "RUNNER_TEMP": str(runner), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs),
           "ZKML_TRACKER": str(Path(sys.executable).parent / "zkml-tracker"),  # this checkout, installed
           "ZKML_TRACKER_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(["bash", "-e", "-c", script], cwd=workspace, env=env, capture_output=True, text=True,
                          timeout=900)
    return done.returncode, summary.read_text() if summary.exists() else "", done.stderr + done.stdout


@pytest.mark.slow
def test_the_readme_snippet_fails_a_pull_request_on_a_confirmed_regression_only(tmp_path):
    snippet = readme_snippet()
    [uses] = [s for s in snippet["jobs"]["zkml-perf"]["steps"] if "zkml-tracker" in s.get("uses", "")]
    assert any(s.get("with", {}).get("fetch-depth") == 0 for s in snippet["jobs"]["zkml-perf"]["steps"])
    # main: three commits; a pull request that doubles the prover's work, and one that only renames
    project = tmp_path / "project"
    shas = make_repo(project, [Step(delay=0.0, work=WORK), Step(delay=0.0, work=WORK),
                               Step(delay=0.0, work=WORK * 2, subject="twice the work"),
                               Step(delay=0.0, work=WORK, subject="back to the old work")])
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(project), str(origin)], check=True)
    workspace = tmp_path / "workspace"
    subprocess.run(["git", "clone", "-q", origin.as_uri(), str(workspace)], check=True)

    subprocess.run(["git", "-C", str(workspace), "checkout", "-q", "--detach", shas[2]], check=True)
    status, summary, log = run_check(workspace, tmp_path, uses["with"], "slower")
    assert status == 1, log
    assert "**Regression**" in summary and "| model [variant] | metric | base | head | ratio | verdict | evidence |" \
        in summary, summary
    row = next(x for x in summary.splitlines() if "| prove_cpu_time |" in x)
    assert "**slower**" in row and f"{shas[1][:8]} -> {shas[2][:8]}" in summary
    assert (tmp_path / "runner-slower" / "outputs").read_text() == "regression=true\n"
    assert "a confirmed regression" in log

    subprocess.run(["git", "-C", str(workspace), "checkout", "-q", "--detach", shas[1]], check=True)
    status, summary, log = run_check(workspace, tmp_path, uses["with"], "same")
    assert status == 0, log
    assert "No regression" in summary and "**slower**" not in summary, summary
    assert (tmp_path / "runner-same" / "outputs").read_text() == "regression=false\n"
