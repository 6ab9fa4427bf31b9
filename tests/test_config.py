"""frameworks.yaml: the shipped file loads; every kind of bad file is one line with file:line and field."""
from __future__ import annotations


import pytest

from tracker.adapters import settings
from tracker.cli import main
from tracker.adapters import load_config
from tracker.config import ConfigError
from tests.conftest import ROOT

GOOD = """\
version: 1
frameworks:
  - name: ezkl
    adapter: ezkl
    proof_system: Halo2
    model_format: ONNX
    history:
      kind: releases
      package: {registry: pypi, name: ezkl}
    build:
      kind: pip
      requirements: ["ezkl=={version}"]
"""


def test_the_shipped_config_lists_all_five_frameworks_of_the_seed_report():
    config = load_config(ROOT / "frameworks.yaml")
    names = {f.name for f in config.frameworks}
    assert {"ezkl", "keras2circom", "orion", "zkml", "opml"} <= names
    ezkl = config.framework("ezkl")
    assert ezkl.variant_names == ("resources", "accuracy")
    assert ezkl.variant("accuracy").as_dict() == {"calibration_target": "accuracy"}


def test_defaults_fill_what_is_left_out(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(GOOD)
    fw = load_config(path).framework("ezkl")
    assert fw.history.branch == "main" and fw.history.select.nightly_max == 5
    assert fw.variant_names == ("resources", "accuracy")  # the adapter's defaults


def test_a_local_repo_path_is_resolved_beside_the_config(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(GOOD.replace("    adapter: ezkl\n", "    adapter: ezkl\n    repo: ../mirror\n"))
    assert load_config(path).framework("ezkl").repo == str((tmp_path.parent / "mirror").resolve())


def _edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new)


BAD = [
    # (what, text, line, field fragment, message fragment)
    ("yaml syntax", "version: 1\nframeworks: [\n  - name", 3, "", "YAML syntax"),
    ("empty file", "", None, "", "empty"),
    ("missing version", GOOD.replace("version: 1\n", ""), 1, "", "missing required key 'version'"),
    ("wrong version", _edit("version: 1", "version: 7"), 1, "version", "unsupported version 7"),
    ("unknown top-level key", GOOD + "extra: 1\n", 13, "extra", "unknown key"),
    ("frameworks not a list", "version: 1\nframeworks: {a: 1}\n", 2, "frameworks", "must be a list"),
    ("no frameworks", "version: 1\nframeworks: []\n", 2, "frameworks", "at least one"),
    ("missing name", _edit("  - name: ezkl\n    adapter", "  - adapter"), 3, "frameworks[0]", "'name'"),
    ("slash in name", _edit("name: ezkl", "name: ez/kl"), 3, "frameworks[0].name", "not valid"),
    ("dots in name", _edit("name: ezkl", "name: ../etc"), 3, "frameworks[0].name", "not valid"),
    ("unknown adapter", _edit("adapter: ezkl", "adapter: snark9000"), 4, "frameworks[0].adapter",
     "unknown adapter 'snark9000' (known: ezkl, command, circom, keras2circom, orion, zkml, opml, zktorch, o1js, noir)"),
    ("unknown framework key", _edit("    proof_system", "    colour: red\n    proof_system"), 5,
     "frameworks[0].colour", "unknown key"),
    ("wrong type", _edit("proof_system: Halo2", "proof_system: [a, b]"), 5, "frameworks[0].proof_system",
     "single value"),
    ("number where text", _edit("model_format: ONNX", "model_format: 12"), 6, "frameworks[0].model_format",
     "non-empty string"),
    ("bad history kind", _edit("kind: releases", "kind: tags"), 8, "frameworks[0].history.kind",
     "not one of"),
    ("releases without package", _edit("      package: {registry: pypi, name: ezkl}\n", ""), 7,
     "frameworks[0].history", "needs a 'package'"),
    ("unknown registry", _edit("registry: pypi", "registry: cran"), 9, "frameworks[0].history.package.registry",
     "not one of"),
    ("commits without repo", _edit("kind: releases", "kind: commits"), 3, "frameworks[0]", "needs a 'repo'"),
    ("ext transport", _edit("    adapter: ezkl\n", "    adapter: ezkl\n    repo: \"ext::sh -c touch% /tmp/pwned\"\n"),
     5, "frameworks[0].repo", "not allowed"),
    ("ssh host as option", _edit("    adapter: ezkl\n",
                                  "    adapter: ezkl\n    repo: \"ssh://-oProxyCommand=touch%20x/r\"\n"), 5,
     "frameworks[0].repo", "not allowed"),
    ("ssh user@host as option", _edit("    adapter: ezkl\n",
                                      "    adapter: ezkl\n    repo: \"ssh://git@-oProxyCommand=x/r\"\n"), 5,
     "frameworks[0].repo", "not allowed"),
    ("file url", _edit("    adapter: ezkl\n", "    adapter: ezkl\n    repo: \"fd::17\"\n"), 5,
     "frameworks[0].repo", "not allowed"),
    ("option as repo", _edit("    adapter: ezkl\n", "    adapter: ezkl\n    repo: \"--upload-pack=touch x\"\n"), 5,
     "frameworks[0].repo", "not allowed"),
    ("empty commands", _edit("kind: pip\n      requirements: [\"ezkl=={version}\"]", "kind: commands\n      commands: []"),
     12, "frameworks[0].build.commands", "non-empty list"),
    ("empty requirements", _edit("requirements: [\"ezkl=={version}\"]", "requirements: []"), 12,
     "frameworks[0].build.requirements", "non-empty list"),
    ("unknown build kind", _edit("kind: pip", "kind: docker"), 11, "frameworks[0].build.kind", "not one of"),
    ("duplicate names", GOOD + GOOD.split("frameworks:\n")[1], 13, "frameworks[1]", "duplicate framework name"),
    ("duplicate key", _edit("    proof_system: Halo2\n", "    proof_system: Halo2\n    proof_system: Plonk\n"), 6,
     "frameworks[0].proof_system", "duplicate key"),
    ("range without two ends", _edit("name: ezkl}\n", "name: ezkl}\n      select: {range: \"v1..\"}\n"), 10,
     "frameworks[0].history.select.range", "not a range"),
    ("range with option", _edit("name: ezkl}\n", "name: ezkl}\n      select: {range: \"-x..v2\"}\n"), 10,
     "frameworks[0].history.select.range", "not a range"),
    ("revision as option", _edit("name: ezkl}\n", "name: ezkl}\n      select: {pinned: [\"--all\"]}\n"), 10,
     "frameworks[0].history.select.pinned[0]", "not a revision"),
    ("latest and pinned", _edit("name: ezkl}\n", "name: ezkl}\n      select: {latest: 2, pinned: [v1]}\n"), 10,
     "frameworks[0].history.select", "either"),
    ("latest zero", _edit("name: ezkl}\n", "name: ezkl}\n      select: {latest: 0}\n"), 10,
     "frameworks[0].history.select.latest", "at least 1"),
    ("branch as option", _edit("name: ezkl}\n", "name: ezkl}\n      branch: \"--output=x\"\n"), 10,
     "frameworks[0].history.branch", "not valid"),
    ("unknown variant setting", GOOD + "    variants:\n      - name: fast\n        settings: {speed: 11}\n", 15,
     "frameworks[0].variants[0].settings.speed",
     "unknown key for adapter ezkl (allowed: calibration_target, input_scale, logrows, lookup_margin)"),
    ("bad variant choice", GOOD + "    variants:\n      - name: fast\n        settings: {calibration_target: speed}\n",
     15, "frameworks[0].variants[0].settings.calibration_target", "'speed' is not one of resources, accuracy"),
    ("variant setting of the wrong type", GOOD + "    variants:\n      - name: a\n        settings:\n"
     "          logrows: 17\n          input_scale: many\n", 17, "frameworks[0].variants[0].settings.input_scale",
     "must be an integer, got 'many'"),
    ("negative variant setting", GOOD + "    variants:\n      - name: a\n        settings: {logrows: -1}\n", 15,
     "frameworks[0].variants[0].settings.logrows", "must be at least 0, got -1"),
    ("variant setting not a value", GOOD + "    variants:\n      - name: a\n        settings: {logrows: [1]}\n", 15,
     "frameworks[0].variants[0].settings.logrows", "must be a single value, got a list"),
    ("setting for an adapter without any", _edit("adapter: ezkl", "adapter: opml") + "    variants:\n"
     "      - name: a\n        settings: {k: 1}\n", 15, "frameworks[0].variants[0].settings.k",
     "unknown key: adapter opml takes no settings"),
    ("duplicate variant setting", GOOD + "    variants:\n      - name: a\n        settings: {logrows: 1, logrows: 2}\n",
     15, "frameworks[0].variants[0].settings.logrows", "duplicate key"),
    ("duplicate variants", GOOD + "    variants:\n      - name: a\n      - name: a\n", 15,
     "frameworks[0].variants[1].name", "duplicate variant"),
    ("negative timeout", GOOD + "    limits: {timeout: -5}\n", 13, "frameworks[0].limits.timeout", "greater than 0"),
    ("repeats as text", _edit("version: 1\n", "version: 1\nrepeats: many\n"), 2, "repeats", "integer"),
    ("bad env name", _edit("kind: pip\n", "kind: pip\n      env: {\"PATH; rm\": x}\n"), 12,
     "frameworks[0].build.env", "not an environment variable name"),
]


SELECT = "name: ezkl}\n"
BAD += [
    ("not a mapping", "- 1\n- 2\n", 1, "", "must be a mapping, got a list"),
    ("tab indentation", "version: 1\nframeworks:\n\t- name: x\n", 3, "", "YAML syntax"),
    ("undefined alias", "version: 1\nframeworks: *x\n", 2, "", "YAML syntax"),
    ("name too long", _edit("name: ezkl", "name: " + "a" * 41), 3, "frameworks[0].name", "at most 40"),
    ("upper-case name", _edit("name: ezkl", "name: EZKL"), 3, "frameworks[0].name", "not valid"),
    ("name with space", _edit("name: ezkl", "name: \"ez kl\""), 3, "frameworks[0].name", "not valid"),
    ("multi-line value", _edit("proof_system: Halo2", "proof_system: \"a\\nb\""), 5, "frameworks[0].proof_system",
     "one line"),
    ("boolean as integer", _edit("version: 1\n", "version: 1\nrepeats: true\n"), 2, "repeats", "integer"),
    ("history not a mapping", _edit("    history:\n      kind: releases\n      package: {registry: pypi, name: ezkl}\n",
                                    "    history: releases\n"), 7, "frameworks[0].history", "must be a mapping"),
    ("package name with space", _edit("name: ezkl}", "name: \"ez kl\"}"), 9, "frameworks[0].history.package.name",
     "a package name"),
    ("branch with a range", _edit(SELECT, SELECT + "      branch: a..b\n"), 10, "frameworks[0].history.branch",
     "not a branch name"),
    ("unknown select key", _edit(SELECT, SELECT + "      select: {newest: 3}\n"), 10,
     "frameworks[0].history.select.newest", "unknown key"),
    ("nightly_max zero", _edit(SELECT, SELECT + "      select: {nightly_max: 0}\n"), 10,
     "frameworks[0].history.select.nightly_max", "at least 1"),
    ("steps as text", _edit(SELECT, SELECT + "      select: {steps: many}\n"), 10,
     "frameworks[0].history.select.steps", "integer"),
    ("range with three dots", _edit(SELECT, SELECT + "      select: {range: \"a...b\"}\n"), 10,
     "frameworks[0].history.select.range", "not a range"),
    ("range with a space", _edit(SELECT, SELECT + "      select: {range: \"a ..b\"}\n"), 10,
     "frameworks[0].history.select.range", "not a range"),
    ("revision with a space", _edit(SELECT, SELECT + "      select: {pinned: [\"a b\"]}\n"), 10,
     "frameworks[0].history.select.pinned[0]", "not a revision"),
    ("file transport", _edit("    adapter: ezkl\n", "    adapter: ezkl\n    repo: \"file:///srv/repo\"\n"), 5,
     "frameworks[0].repo", "not allowed"),
    ("memory as a fraction", GOOD + "    limits: {memory_mb: 1.5}\n", 13, "frameworks[0].limits.memory_mb", "integer"),
    ("zero timeout", GOOD + "    limits: {timeout: 0}\n", 13, "frameworks[0].limits.timeout", "greater than 0"),
    ("unknown limit", GOOD + "    limits: {cpus: 4}\n", 13, "frameworks[0].limits.cpus", "unknown key"),
    ("unknown stage", GOOD + "    stages: {compile: make, prove: x}\n", 13, "frameworks[0].stages.compile",
     "unknown key"),
    ("stages without prove", GOOD + "    stages: {verify: x}\n", 13, "frameworks[0].stages", "'prove'"),
    ("empty stage command", GOOD + "    stages: {prove: \"\"}\n", 13, "frameworks[0].stages.prove", "non-empty"),
    ("pros not a list", GOOD + "    pros: fast\n", 13, "frameworks[0].pros", "must be a list"),
    ("variants not a list", GOOD + "    variants: {name: a}\n", 13, "frameworks[0].variants", "must be a list"),
    ("no variants", GOOD + "    variants: []\n", 13, "frameworks[0].variants", "at least one variant"),
    ("unknown setup kind", GOOD + "    setup: magic\n", 13, "frameworks[0].setup", "not one of"),
]

# tags, bombs and values that would disable a limit or never finish (issue 15)
BAD += [
    ("python object tag", _edit("proof_system: Halo2", "proof_system: !!python/object/apply:os.system [\"touch x\"]"),
     5, "frameworks[0].proof_system", "YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"),
    ("custom tag", _edit("proof_system: Halo2", "proof_system: !halo Halo2"), 5, "frameworks[0].proof_system",
     "YAML tag '!halo' is not allowed"),
    ("int tag on text", _edit("version: 1\n", "version: 1\nrepeats: !!int abc\n"), 2, "repeats",
     "YAML tag 'tag:yaml.org,2002:int' is not allowed"),
    ("tag on a mapping", _edit("    history:\n", "    history: !!omap\n"), 7, "frameworks[0].history", "YAML tag"),
    ("flow nesting 10,000 deep", GOOD + "    pros: " + "[" * 10_000 + "]" * 10_000 + "\n", 13,
     "frameworks[0].pros[0][0]", "nested deeper than 32 levels"),
    ("block nesting 40 deep", GOOD + "    pros:\n" + "".join("  " * (i + 3) + "-\n" for i in range(40)), 43,
     "frameworks[0].pros[0]", "nested deeper than 32 levels"),
    ("nan timeout", GOOD + "    limits: {timeout: .nan}\n", 13, "frameworks[0].limits.timeout",
     "must be a finite number, got .nan"),
    ("infinite timeout", GOOD + "    limits: {timeout: .inf}\n", 13, "frameworks[0].limits.timeout",
     "must be a finite number, got .inf"),
    ("negative infinite timeout", GOOD + "    limits: {timeout: -.inf}\n", 13, "frameworks[0].limits.timeout",
     "must be a finite number"),
    ("timeout past a week", GOOD + "    limits: {timeout: 1000000}\n", 13, "frameworks[0].limits.timeout",
     "must be at most 604800"),
    ("memory past 1 TiB", GOOD + "    limits: {memory_mb: 99999999999}\n", 13, "frameworks[0].limits.memory_mb",
     "must be at most 1048576"),
    ("variant nan timeout", GOOD + "    variants:\n      - name: a\n        limits: {timeout: .NaN}\n", 15,
     "frameworks[0].variants[0].limits.timeout", "finite"),
    ("absurd repeats", _edit("version: 1\n", "version: 1\nrepeats: 1000000000\n"), 2, "repeats",
     "must be at most 100, got 1000000000"),
    ("absurd nightly_max", _edit(SELECT, SELECT + "      select: {nightly_max: 10000000000}\n"), 10,
     "frameworks[0].history.select.nightly_max", "at most 100000"),
    ("unknown placeholder", GOOD + "    stages: {prove: \"run {srcdir}\"}\n", 13, "frameworks[0].stages.prove",
     "unknown placeholder {srcdir} (known: {src}, {workdir}, {model}, {onnx}, {input}, {proof}, {vk}, {pk})"),
    ("attribute placeholder", GOOD + "    stages: {prove: x, verify: \"{src.__class__}\"}\n", 13,
     "frameworks[0].stages.verify", "unknown placeholder {src.__class__}"),
    ("unclosed brace", GOOD + "    stages: {prove: \"run {src\"}\n", 13, "frameworks[0].stages.prove",
     "expected '}' before end of string (write {{ and }} for a literal brace)"),
    ("placeholder conversion", GOOD + "    stages: {prove: \"run {src!r}\"}\n", 13, "frameworks[0].stages.prove",
     "no format spec or conversion"),
]
assert len({b[0] for b in BAD}) == len(BAD) >= 20

@pytest.mark.parametrize("what, text, line, field, message", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_one_located_line_with_status_2(tmp_path, capsys, what, text, line, field, message):
    path = tmp_path / "frameworks.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.line == line, str(err.value)
    assert field in err.value.field
    assert message in str(err.value)
    assert main(["--config", str(path), "list"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.count("\n") == 1 and out.err.startswith(f"zkml-tracker: frameworks.yaml{':' + str(line) if line else ''}: ")
    assert "Traceback" not in out.err


def test_settings_are_checked_against_the_adapters_declaration():
    declared = {"k": (int,), "ratio": (float,), "mode": (str, "fast", "slow"), "label": (str,)}
    assert settings.check("x", declared, {"k": 0, "ratio": 2, "mode": "slow", "label": "a b"}) == \
        {"k": 0, "ratio": 2.0, "mode": "slow", "label": "a b"}
    for given, key, reason in (
            ({"k": True}, "k", "must be an integer, got True"),
            ({"ratio": "x"}, "ratio", "must be a number, got 'x'"),
            ({"ratio": float("inf")}, "ratio", "must be a finite number, got inf"),
            ({"ratio": 0}, "ratio", "must be greater than 0, got 0"),
            ({"mode": 3}, "mode", "must be a non-empty string, got 3"),
            ({"label": "a\nb"}, "label", "must be one line"),
            ({"k": 1, "size": 2}, "size", "unknown key for adapter x (allowed: k, ratio, mode, label)")):
        with pytest.raises(settings.SettingError) as err:
            settings.check("x", declared, given)
        assert (err.value.key, err.value.reason) == (key, reason)


def test_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "nope.yaml"), "list"]) == 2
    assert "nope.yaml: file not found" in capsys.readouterr().err


@pytest.mark.parametrize("shared, expected", [
    (None, "zkml-tracker: asv.conf.json: the shared asv config beside frameworks.yaml is needed: No such file"),
    ('{\n "version": 1,\n oops\n}\n', "zkml-tracker: asv.conf.json:3: not JSON: Expecting property name"),
])
def test_a_missing_or_broken_shared_asv_config_is_one_line(tmp_path, capsys, shared, expected):
    from tests.synthetic import Step, config_text, make_repo

    make_repo(tmp_path / "repo", [Step()])
    path = tmp_path / "frameworks.yaml"
    path.write_text(config_text(tmp_path / "repo"))
    if shared is not None:
        (tmp_path / "asv.conf.json").write_text(shared)
    assert main(["--config", str(path), "--cache", str(tmp_path / "cache"), "run", "-f", "synth",
                 "--latest", "1", "--no-publish"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1
    assert not (tmp_path / "results" / "synth" / "records").exists() or \
        not any((tmp_path / "results" / "synth" / "records").iterdir())


def test_literal_braces_and_every_known_placeholder_load(tmp_path):
    path = tmp_path / "f.yaml"
    command = " ".join("{" + p + "}" for p in ("src", "workdir", "model", "onnx", "input", "proof", "vk", "pk"))
    path.write_text(GOOD + f"    stages: {{prove: \"run {command} '{{{{json}}}}'\"}}\n")
    assert dict(load_config(path).framework("ezkl").stages)["prove"] == f"run {command} '{{{{json}}}}'"


def test_a_file_too_large_or_not_utf8_is_one_line(tmp_path, capsys):
    path = tmp_path / "frameworks.yaml"
    path.write_text(GOOD + "# " + "x" * (1 << 20) + "\n")
    assert main(["--config", str(path), "list"]) == 2
    assert capsys.readouterr().err == "zkml-tracker: frameworks.yaml: larger than 1024 KiB: not a frameworks file\n"
    path.write_bytes(GOOD.encode() + b"    pros: [\xff]\n")
    assert main(["--config", str(path), "list"]) == 2
    assert capsys.readouterr().err == "zkml-tracker: frameworks.yaml:13: not UTF-8: invalid start byte\n"



def test_reading_the_config_imports_no_adapter_and_no_numpy():
    """The config reads the file without the adapters; the registry checks their part after (load_config)."""
    import subprocess
    import sys

    probe = ("import sys; from tracker.config import read_config; c = read_config(sys.argv[1]); "
             "print(len(c.frameworks), sorted(m for m in sys.modules if m.startswith('tracker.adapters') "
             "or m == 'numpy'))")
    done = subprocess.run([sys.executable, "-c", probe, str(ROOT / "frameworks.yaml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split(" ", 1)[1].strip() == "[]"
    assert int(done.stdout.split()[0]) == len(load_config(ROOT / "frameworks.yaml").frameworks) >= 8


def test_an_adapters_defaults_and_checked_settings_come_from_the_registry_after_load(tmp_path):
    from tracker.config import read_config

    (tmp_path / "frameworks.yaml").write_text(GOOD + "  - name: z\n    adapter: zkml\n    proof_system: x\n"
                                              "    model_format: x\n    history: {kind: commits}\n    repo: /r\n"
                                              "    build: {kind: none}\n    variants:\n      - name: a\n"
                                              "        settings: {k: 12}\n")
    raw = read_config(tmp_path / "frameworks.yaml")
    assert raw.framework("ezkl").variants == () and raw.lines["frameworks[1].variants[0].settings.k"] == 22
    loaded = load_config(tmp_path / "frameworks.yaml")
    assert loaded.framework("ezkl").variant_names == ("resources", "accuracy")
    assert loaded.framework("z").variant("a").as_dict() == {"k": 12}
