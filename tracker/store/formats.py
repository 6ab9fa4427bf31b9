"""The version of every format the tracker writes under results/<framework>/, in one place.

A reader refuses (or reads as of an older version, where it says so) a file whose version it does not
know, so a format is changed here and nowhere else: bump its number and say what changed beside it.
"""

# records/<sha>/<model>--<variant>.json: tracker.records.RECORD_VERSION (and RECORD_READABLE, the versions
# it still reads), kept with the record type, which the adapters below the store fill
REVISIONS_VERSION = 1         # revisions.json: sha -> label, date, subject, version, position, line
STATUS_VERSION = 1            # status.json: the last run's summary
BUILD_FAILURE_VERSION = 1     # builds/<sha>.json: a build that failed, its recipe and whether to retry
CONFIRMATIONS_VERSION = 1     # confirmations.json: verdicts on steps re-measured
REPORTED_VERSION = 1          # reported-regressions.json: what the nightly already told
OTHER_LINE_VERSION = 1        # other-lines/<version>/revision.json: a release moved off the followed line
REPORT_VERSION = 1            # `regressions --json` and `compare --json` on stdout
LIST_VERSION = 1              # `list --json` on stdout
ASV_RESULTS_VERSION = 2       # asv's own: a result file (asv.results.Results.api_version)
ASV_BENCHMARKS_VERSION = 2    # asv's own: benchmarks.json (asv.benchmarks.Benchmarks.api_version)
