"""The matrix benchmark sets our figures beside the public benchmark's CSV: its net names must map onto ours."""
import json
import math

from tests.conftest import load_bench
from tracker.models.zoo import SUITES

tracker_cost = load_bench()

# rows as the public CSV spells them (its header and six architectures, two frameworks)
CSV = """Framework,Architecture,# Layers,# Parameters,Testing Size,Accuracy Loss (%),Avg Memory Usage (MB),\
Std Memory Usage,Avg Proving Time (s),Std Proving Time,Notes
ezkl (pytorch),Input-Dense-Dense (196x25x10),3,5185,2500,4.52,91.0,0.7,0.654,0.02,mode=resource
ezkl (pytorch),Input-Dense-Dense (196x25x10),3,5185,10000,4.11,91.6,0.7,0.660,0.02,mode=resource
ezkl (pytorch),Input-Dense-Dense (784x56x10),3,44543,2500,0.0,4807.2,1719,38.0,14.2,mode=accuracy | Combined
ezkl (pytorch),Input-Dense-Dense (196x25x10),3,5185,2500,0.08,2616.9,1081,19.1,8.7,mode=accuracy | Combined
circomlib-ml (tensorflow),Input-Dense-Dense-Dense (196x24x14x10),4,5228,2500,0.88,315.4,1.7,0.453,0.03,
circomlib-ml (tensorflow),Input-Conv2d-Conv2d-Dense-Dense_Kernal (196x5x11x80x10_3x3),5,4996,2500,0.0,3040,1830,7.6,3.6,
circomlib-ml (tensorflow),input-conv2d-conv2d-dense_Kernal (784x6x16x10_5x5),4,5142,2500,0.08,18684,129,43.8,3.3,
circomlib-ml (tensorflow),Input-Conv2d-Conv2d-Dense-Dense-Dense_Kernal (784x6x16x120x84x10_5x5),6,44426,2500,0.0,19437,129,59.8,8.1,
"""


def test_every_csv_architecture_is_one_of_our_standard_nets(tmp_path):
    path = tmp_path / "anchors.csv"
    path.write_text(CSV)
    anchors = tracker_cost.read_anchors(path)
    assert {model for _, model, _ in anchors} == set(SUITES["standard"])
    # the 2,500-image row is kept, the 10,000-image one is not; ezkl's two modes are two variants
    assert anchors[("ezkl", "196_25_10", "resources")] == (0.654, 91.0, 4.52)
    assert anchors[("ezkl", "196_25_10", "accuracy")] == (19.1, 2616.9, 0.08)
    assert anchors[("circom", "14_5_11_80_10_3", "default")] == (7.6, 3040.0, 0.0)


def test_matrix_figures_sets_a_record_beside_its_anchor_as_ratios(tmp_path):
    (tmp_path / "anchors.csv").write_text(CSV)
    records = tmp_path / "results" / "ezkl" / "records" / "abc"
    records.mkdir(parents=True)
    for model, prove, agreement in (("196_25_10", [2.0, 2.5, 3.0], 0.99), ("784_56_10", [5.0, 5.0, 6.0], 1.0)):
        (records / f"{model}--accuracy.json").write_text(json.dumps({
            "model": model, "variant": "accuracy", "accuracy": {"top1_agreement": agreement, "n": 2500},
            "stages": {"prove": {"samples_s": prove, "peak_rss_bytes": 360e6}}}))
    o = type("Options", (), {"out": tmp_path, "anchors": tmp_path / "anchors.csv"})
    rows = {r["model"]: r for r in tracker_cost.matrix_figures(o)}
    big = rows["784_56_10"]
    assert big["prove_s"] == 5.0 and big["prove_ratio"] == 2.0 and big["memory_mb"] == 360.0
    assert big["anchor_prove_s"] == 38.0 and math.isclose(big["anchor_prove_ratio"], 38.0 / 19.1)
    assert math.isclose(rows["196_25_10"]["accuracy_loss_pct"], 1.0)


def test_a_stage_run_for_another_variant_or_read_back_adds_no_time_to_the_forced_run():
    ran = {"samples_s": [1.0, 2.0], "reason": ""}
    shared = {"samples_s": [1.0, 2.0], "reason": "measured once for [resources] and this variant in this run: ..."}
    read_back = {"samples_s": [], "reason": "reused 0123abcd: same build, same circuit and inputs"}
    assert tracker_cost._stage_time("prove", ran) == 3.0
    assert tracker_cost._stage_time("prove", shared) == tracker_cost._stage_time("setup", read_back) == 0.0
