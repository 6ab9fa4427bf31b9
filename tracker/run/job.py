"""A revision's run, written to a file the asv benchmarks read (asv passes only environment variables on).

The tracker writes one `RevisionJob` per revision and points `ZKML_TRACKER_JOB` at it before calling
`asv run`; the suite in `benchmarks/` reads it back to know which framework, build, models and variants
it measures. The format carries a version, like everything the tracker writes.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tracker.fsutil import atomic_write_json, read_json
from tracker.types import Build

JOB_VERSION = 2  # 2: record keys
JOB_ENV = "ZKML_TRACKER_JOB"


@dataclass
class RevisionJob:
    config_path: str
    framework: str
    revision: str
    build: dict[str, Any]
    models: list[str]
    variants: list[str]
    records_dir: str
    work_dir: str
    cache_dir: str
    repeats: int = 3
    eval_count: int | None = None
    force: bool = False
    progress_log: str | None = None
    record_keys: dict[str, str] = field(default_factory=dict)  # variant -> records.record_key

    def record_key(self, variant: str) -> str:
        return self.record_keys.get(variant, "")

    def get_build(self) -> Build:
        b = dict(self.build)
        for key in ("path", "python", "node_prefix", "source"):
            if b.get(key) is not None:
                b[key] = Path(b[key])
        b["env"] = tuple(tuple(x) for x in b.get("env", ()))
        return Build(**b)

    def save(self, path: Path) -> Path:
        data = asdict(self)
        data["version"] = JOB_VERSION
        atomic_write_json(path, data)
        return path

    @classmethod
    def load(cls, path: Path) -> "RevisionJob":
        data = read_json(path)
        if not isinstance(data, dict) or data.get("version") not in (1, JOB_VERSION):
            raise ValueError(f"{path}: not a revision job of version {JOB_VERSION}")
        data.pop("version")
        return cls(**data)

    @classmethod
    def from_env(cls) -> "RevisionJob | None":
        path = os.environ.get(JOB_ENV)
        return cls.load(Path(path)) if path else None


def build_to_dict(build: Build) -> dict[str, Any]:
    out = {}
    for key, value in asdict(build).items():
        out[key] = str(value) if isinstance(value, Path) else value
    out["env"] = [list(x) for x in build.env]
    return out
