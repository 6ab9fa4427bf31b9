"""Where a framework's revisions come from: a git mirror, or a history derived from a package registry.

`open_history(framework, cache)` gives a `History`: the git repository asv reads (`repo_path`, and
`branch`, always a full `refs/heads/...` name so that a tag of the same name never stands in for it), the
revisions on it (oldest first, in the branch's topological order), how to write a source tree of one
(`checkout_fn`), `status`: one-line notes on anything that did not go as asked (remote or registry
unreachable, cache used, repo changed), and `gone`: why the followed branch no longer exists upstream
(the cached mirror keeps its last known tip, so the results and the site keep their history).

A release history is always the history derived from the registry, one commit per release, each release
line (major.minor) a branch in version order and `main` the newest line (tracker.history.registry says
why), whether or not the upstream repository is at hand; where it is, each release is
mapped to the commit of its tag wherever that tag lies (ezkl tags its 23.x releases on a release branch,
not on `main`), and a release with no tag keeps its place, said in its subject. So a framework's results
lie on the same commits whether GitHub was reachable on the night or not.
"""
from __future__ import annotations

from tracker.history.source import History, HistoryError, open_history

__all__ = ["History", "HistoryError", "open_history"]
