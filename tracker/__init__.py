"""zkml-tracker: continuous performance tracking of zero-knowledge ML frameworks, on asv."""

__version__ = "0.1.0"
