"""The frameworks.yaml of a pull-request check: one framework, following the history the check made.

Usage: pr_config.py NAME HISTORY_REPO BRANCH OUT_DIR [ENTRY_YAML | --config FRAMEWORKS_YAML]

The framework's entry comes as YAML text (the `entry` input of action.yml) or from a frameworks.yaml that
holds it (the `config` input); its `repo` and `history` are replaced by the local repository the check
pushed the pull request's commits to, so the base and head are on the history the tracker follows. The
asv.conf.json beside the given frameworks.yaml (or the action's own) goes beside the written one, which
the tracker validates when it loads it, as any other.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

ACTION_ROOT = Path(__file__).resolve().parents[1]


def entry_from(name: str, source: str, config: Path | None) -> tuple[dict, dict]:
    """The framework's entry and the config's other top-level keys (suite, repeats)."""
    if config is None:
        entry = yaml.safe_load(source) or {}
        if not isinstance(entry, dict):
            sys.exit(f"pr-check: the entry input must be a YAML mapping (a frameworks.yaml entry), not {source!r}")
        return entry, {}
    data = yaml.safe_load(config.read_text()) or {}
    found = [fw for fw in data.get("frameworks") or [] if isinstance(fw, dict) and fw.get("name") == name]
    if not found:
        sys.exit(f"pr-check: {config}: no framework named {name!r}")
    return found[0], {k: v for k, v in data.items() if k in ("suite", "repeats")}


def main(argv: list[str]) -> None:
    name, history_repo, branch, out = argv[:4]
    config = Path(argv[5]) if argv[4:5] == ["--config"] else None
    entry, top = entry_from(name, argv[4] if config is None else "", config)
    kept = {k: v for k, v in entry.items() if k not in ("name", "repo", "history")}
    entry = {"name": name, **kept, "repo": history_repo, "history": {"kind": "commits", "branch": branch}}
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"version": 1, **top, "frameworks": [entry]}, sort_keys=False)
    (out_dir / "frameworks.yaml").write_text(text)
    asv_conf = config.parent / "asv.conf.json" if config is not None else None
    shutil.copyfile(asv_conf if asv_conf and asv_conf.exists() else ACTION_ROOT / "asv.conf.json",
                    out_dir / "asv.conf.json")


if __name__ == "__main__":
    main(sys.argv[1:])
