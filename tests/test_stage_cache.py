"""Pure stages kept by their inputs: data and files back as they were made, budget held, never half-read."""
import json
import os

from tracker.adapters.stage_cache import entry_for, prune, recall, remember


def made(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_an_entry_gives_back_the_data_and_the_files_as_links(tmp_path):
    model = made(tmp_path / "model.onnx", "weights")
    entry = entry_for(tmp_path / "cache", ["ezkl", "23.0.5", "setup", model, b"circuit"])
    pk, vk = made(tmp_path / "a" / "pk.key", "proving key"), made(tmp_path / "a" / "vk.key", "verifying key")
    remember(entry, {"made": 1}, [pk, vk])

    other = tmp_path / "b"
    other.mkdir()
    made(other / "pk.key", "an old key of another circuit")
    assert recall(entry, [other / "pk.key", other / "vk.key"]) == {"made": 1}
    assert (other / "pk.key").read_text() == "proving key" and (other / "vk.key").read_text() == "verifying key"
    assert os.path.samefile(other / "pk.key", pk)  # a link: a 4.6 GB key costs no second copy

    # a work dir reused by a later job unlinks its files first (the adapters do): the kept key is untouched
    (other / "pk.key").unlink()
    made(other / "pk.key", "a new key")
    assert (entry / "pk.key").read_text() == "proving key"


def test_different_inputs_are_different_entries(tmp_path):
    model = made(tmp_path / "model.onnx", "weights")
    base = ["ezkl", "23.0.5", "setup", model]
    assert entry_for(tmp_path, [*base, b"circuit"]) == entry_for(tmp_path, [*base, b"circuit"])
    assert entry_for(tmp_path, [*base, b"circuit"]) != entry_for(tmp_path, [*base, b"another circuit"])
    assert entry_for(tmp_path, [*base, b"circuit"]) != entry_for(tmp_path, ["ezkl", "23.0.4", "setup", model, b"circuit"])
    before = entry_for(tmp_path, [*base, b"circuit"])
    model.write_text("other weights")
    assert entry_for(tmp_path, [*base, b"circuit"]) != before


def test_no_entry_a_half_made_one_or_a_missing_file_is_none(tmp_path):
    entry = tmp_path / "stage-data" / "k"
    assert recall(entry, []) is None
    made(entry / "pk.key", "key")
    assert recall(entry, [tmp_path / "pk.key"]) is None          # no data.json: never finished
    made(entry / "data.json", json.dumps({"made": 1}))
    assert recall(entry, [tmp_path / "pk.key", tmp_path / "vk.key"]) is None   # vk.key missing
    made(entry / "data.json", "{torn")
    assert recall(entry, []) is None


def test_the_least_recently_used_entries_go_past_the_budget(tmp_path):
    root = tmp_path / "stage-data"
    entries = []
    for age, name in enumerate(["newest", "middle", "oldest"]):
        entry = root / name
        made(entry / "data.json", "{}")
        made(entry / "pk.key", "k" * 1000)
        os.utime(entry, (1_000_000 - age * 100, 1_000_000 - age * 100))
        entries.append(entry)
    made(root / ".half.123.tmp" / "pk.key", "k" * 5000)   # another job's entry being made
    dropped = prune(root, keep=root / "oldest", budget=2100)
    assert dropped == [root / "middle"]
    assert sorted(p.name for p in root.iterdir()) == [".half.123.tmp", "newest", "oldest"]


def test_remembering_the_same_entry_twice_keeps_the_first(tmp_path):
    pk = made(tmp_path / "w" / "pk.key", "first")
    entry = tmp_path / "stage-data" / "k"
    remember(entry, {"n": 1}, [pk])
    pk.unlink()
    made(pk, "second")
    remember(entry, {"n": 2}, [pk])
    assert json.loads((entry / "data.json").read_text()) == {"n": 1}
    assert (entry / "pk.key").read_text() == "first"
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".")]


def test_a_measured_stage_is_read_back_in_a_run_and_run_afresh_when_remeasured(tmp_path):
    """ezkl's key setup is pure: a second run reads it back (no samples), a re-measurement must run it."""
    import sys
    from dataclasses import replace

    from tracker.adapters.base import StageCall, run_stage
    from tracker.measure import Limits
    from tracker.models.zoo import get_model
    from tracker.types import Build, BuildRecipe, Framework, HistorySpec, ModelJob, Variant

    child = made(tmp_path / "stage.py", "import json, sys, time\n"
                 "open(sys.argv[2], 'w').write('key')\n"
                 "json.dump({'samples': [0.01], 'data': {'made': time.time()}}, open(sys.argv[1], 'w'))\n")
    fw = Framework("t", "command", "none", "none", "onnx", None, HistorySpec("releases"), BuildRecipe("none"),
                   (Variant("default"),), Limits())
    job = ModelJob(fw, Build("t", "r1", tmp_path), get_model("linear"), Variant("default"), tmp_path / "work",
                   tmp_path / "cache")
    (tmp_path / "work").mkdir()

    def setup(job: ModelJob):
        result, out, key = job.new_result(), tmp_path / "work" / "setup.json", tmp_path / "work" / "pk"
        data = run_stage(job, result, StageCall("setup", [sys.executable, child, out, key], out,
                                                pure_of=[child], products=[key]))
        return result.stages["setup"], data

    first, made_at = setup(job)
    assert first.samples_s == [0.01] and first.reason == ""
    again, data = setup(job)
    assert again.samples_s == [] and again.reason.startswith("reused ") and data == made_at
    fresh, data = setup(replace(job, remeasure=True))
    assert fresh.samples_s == [0.01] and fresh.reason == "" and data["made"] > made_at["made"]
    assert (tmp_path / "work" / "pk").read_text() == "key"
