"""Where a framework's revisions come from: a git mirror, or a history derived from a package registry."""
