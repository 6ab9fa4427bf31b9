"""The store: every path and format under results/<framework>/, and asv's results as its sink.

`paths` says where each file lives, `formats` what version each is, `state` how the state files are read (a
torn one said, set aside and rebuilt) and written, `asv` how asv's result files are written from the records
and read back. Nothing under results/<framework>/ is named elsewhere.
"""
from tracker.store.paths import FrameworkStore

__all__ = ["FrameworkStore"]
