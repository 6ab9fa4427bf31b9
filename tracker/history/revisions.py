"""A revision: one point on a framework's history axis, as asv will record it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Revision:
    """A commit of the history repo asv reads.

    `sha` is the commit in that repo (a mirror of upstream, or the repo derived from a registry), `label`
    is what a person calls it (a version or a short sha), `version` the package version to install for
    registry histories, `upstream_sha` the framework's own commit where it is known, `position` its place
    on the branch (1 for the root, counted along first parents): the order of the history whatever the
    commit dates say (a commit may be dated before its parent), `line` a release's release line (`23.0`).
    """

    sha: str
    label: str
    date: datetime
    subject: str = ""
    version: str | None = None
    upstream_sha: str | None = None
    position: int | None = None
    line: str | None = None

    @property
    def short(self) -> str:
        return self.sha[:8]
