"""A throwaway framework repository with a known history, for tests of history, nightly and bisect.

Each commit holds `prover.py`, a "prover" whose prove stage holds `alloc_mb` MB, works, sleeps `delay`
seconds and writes a proof of `proof_bytes` bytes; the test decides those per commit, so it knows where every regression is. Commits
are dated one day apart from a fixed start, with a fixed author, so their shas are stable.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

START = 1_700_000_000
# The interpreter the stages and the build run under: this one, isolated and without site. `python3` from
# PATH may be a pyenv shim (0.3 s a start on the test machine, against 0.02 s), and every stage starts the
# prover `repeats` times in every run and every confirmation round: start-up was most of the suite's time,
# and noise the steps had to stand out of.
PYTHON = f"{shlex.quote(sys.executable)} -I -S"
PROVER = textwrap.dedent("""\
    import os, sys, time
    DELAY, PROOF_BYTES, WORK, STALL_IF, ALLOC_MB = {delay!r}, {proof_bytes!r}, {work!r}, {stall_if!r}, {alloc_mb!r}
    stage, workdir = sys.argv[1], sys.argv[2]
    if stage == "prove":
        held = b"m" * (ALLOC_MB << 20)  # written, so resident: the prover's peak memory
        total = 0
        for i in range(WORK):  # CPU-bound work: a neighbour stretches its wall time, not its CPU time
            total += i * i
        time.sleep(DELAY + ({stall_s!r} if STALL_IF and os.path.exists(STALL_IF) else 0.0))
        with open(os.path.join(workdir, "proof"), "wb") as f:
            f.write(b"p" * PROOF_BYTES)
    elif stage == "verify":
        assert os.path.getsize(os.path.join(workdir, "proof")) == PROOF_BYTES
""")


@dataclass(frozen=True)
class Step:
    delay: float = 0.1
    proof_bytes: int = 1000
    work: int = 0  # loop iterations of CPU-bound work in prove (about 10 million a second)
    stall_if: str = ""  # while this file exists, prove waits stall_s more: wall time stretched, CPU time not
    stall_s: float = 0.3
    alloc_mb: int = 0  # prove holds this many MB while it works
    broken: bool = False  # a commit whose build fails
    subject: str = ""


def _git(repo: Path, *args: str, when: int | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{when} +0000"
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path, steps: list[Step]) -> list[str]:
    """Create the repo with one commit per step; return the shas, oldest first."""
    path.mkdir(parents=True)
    _git(path, "init", "-q", "--initial-branch=main")
    return [add_commit(path, step, i) for i, step in enumerate(steps)]


def add_commit(path: Path, step: Step, index: int | None = None) -> str:
    if index is None:
        index = int(_git(path, "rev-list", "--count", "HEAD"))
    source = PROVER.format(delay=step.delay, proof_bytes=step.proof_bytes, work=step.work, stall_if=step.stall_if,
                           stall_s=step.stall_s, alloc_mb=step.alloc_mb)
    (path / "prover.py").write_text(source + ("def broken(:\n" if step.broken else ""))
    _git(path, "add", "prover.py")
    _git(path, "commit", "-q", "--allow-empty", "-m", step.subject or f"commit {index}", when=START + index * 86400)
    return _git(path, "rev-parse", "HEAD").strip()


def config_text(repo: Path, nightly_max: int = 50) -> str:
    return textwrap.dedent(f"""\
        version: 1
        repeats: 3
        frameworks:
          - name: synth
            adapter: command
            proof_system: none (test prover)
            model_format: ONNX
            repo: {repo}
            history: {{kind: commits, branch: main, select: {{nightly_max: {nightly_max}}}}}
            build: {{kind: commands, commands: ["{PYTHON} -c 'import ast; ast.parse(open(\\"prover.py\\").read())'"]}}
            stages:
              prove: "{PYTHON} {{src}}/prover.py prove {{workdir}}"
              verify: "{PYTHON} {{src}}/prover.py verify {{workdir}}"
        """)
