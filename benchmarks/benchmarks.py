"""The asv suite's declaration: each benchmark the tracker keeps in asv, its unit, its version, and why.

asv does not run this suite. The tracker proves each revision itself, and its store writes asv's result
files and benchmarks.json from tracker.metrics (tracker/store/asv.py); `asv publish`, `asv compare` and
`asv show` read them as asv's own. A benchmark's version is its metric's `Metric.version`, a hash of the
metric's definition (what it measures, from which stage, in which unit), so an edit of a comment, here or
anywhere in the tracker, keeps every graph; only a change of what a metric means starts a new series, and
then this table is changed with it (tests/test_store.py holds the two together).
"""

# (asv benchmark, unit, version, why it is followed), in tracker.metrics.METRICS order
SUITE = (
    ('benchmarks.SetupTime.track_setup_time',                        'seconds', 'dbb2dda328396e29',
     'what a new circuit costs before its first proof (keys, SRS)'),
    ('benchmarks.ProveTime.track_prove_time',                        'seconds', '1e9d00fbe21aa529',
     'what every proof costs: the figure users compare frameworks by'),
    ('benchmarks.VerifyTime.track_verify_time',                      'seconds', 'fa07b6bda0230050',
     'what a verifier pays per proof'),
    ('benchmarks.ProvePeakMemory.track_prove_peak_memory',           'bytes', '599c2af84973eb5a',
     'whether a prover fits the machine at all'),
    ('benchmarks.ProofSize.track_proof_size',                        'bytes', 'dd02548e25a43f8d',
     'what goes on the wire or on chain'),
    ('benchmarks.VkSize.track_vk_size',                              'bytes', '1f5b10a0f20d2535',
     'what a verifier must hold (on chain: deployment cost)'),
    ('benchmarks.PkSize.track_pk_size',                              'bytes', '71fc76773461d0a3',
     'what a prover must hold and load'),
    ('benchmarks.CircuitLogrows.track_circuit_logrows',              'log2 rows', '8a5b9c5dfb0a00b1',
     "the circuit's size as halo2 and Kimchi count it: drives every cost above"),
    ('benchmarks.CircuitConstraints.track_circuit_constraints',      'constraints', 'dde647ccbbe02cfc',
     "the circuit's size as R1CS counts it"),
    ('benchmarks.AccuracyMaxAbsError.track_accuracy_max_abs_error',  'abs error', '5f04f97153d4472a',
     "how far quantization moved the outputs from the float model's"),
    ('benchmarks.AccuracyLoss.track_accuracy_loss',                  'fraction', '08627c9dd67488a7',
     'the share of predictions quantization changed (lower is better, as asv reads it)'),
    ('benchmarks.FloatAccuracy.track_float_accuracy',                'fraction', 'a307211c0ec641b7',
     'the yardstick: moves only with the weights or the evaluation set'),
    ('benchmarks.CircuitAccuracy.track_circuit_accuracy',            'fraction', 'bf15e493e016f26d',
     'what the proved model gets right (higher is better)'),
    ('benchmarks.AccuracyDrop.track_accuracy_drop',                  'fraction', 'c4a645daa992575a',
     'what the circuit lost against the float model (lower is better)'),
    ('benchmarks.SetupCpuTime.track_setup_cpu_time',                 'seconds', 'ac56c3fa2c512e07',
     'setup beside its wall time: a neighbour stretches wall time, hardly CPU time'),
    ('benchmarks.ProveCpuTime.track_prove_cpu_time',                 'seconds', 'a993eeb51f196a41',
     'prove beside its wall time, for the same reason'),
    ('benchmarks.VerifyCpuTime.track_verify_cpu_time',               'seconds', '948c31d32f308f01',
     'verify beside its wall time, for the same reason'),
)
