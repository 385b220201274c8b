"""The command line: in-process through click's runner, and as a subprocess where the process
is the point (installed plugins, import time, the version banner)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from asdbench.cli import add_plugin_commands, cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "asdbench-example-plugin"


def asdbench(*args, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "asdbench", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def invoke(*args: str):
    """Run the CLI in this process (a click ``Result``: exit_code, stdout, stderr, exception)."""
    add_plugin_commands(cli)  # idempotent: the core's commands are registered by module name
    return CliRunner().invoke(cli, list(args))


def _imported_modules(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "asdbench", *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:")}


def test_help_imports_no_torch():
    modules = _imported_modules("--help")
    assert "asdbench.cli" in modules and "click" in modules  # the measurement works
    assert "torch" not in modules


def test_every_builtin_command_module_is_light_and_named_as_registered():
    from asdbench.commands import BUILTIN_COMMANDS

    code = ("import sys, importlib; from asdbench.commands import BUILTIN_COMMANDS as B; "
            "names = {k: importlib.import_module(m).command.name for k, m in B.items()}; "
            "print(names == {k: k for k in B}, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300).stdout.split()
    assert out == ["True", "False"], out
    assert set(BUILTIN_COMMANDS) >= {"run", "describe", "plugins", "matrix", "leaderboard"}


def test_version():
    out = asdbench("--version").stdout
    assert "asdbench" in out and any(ch.isdigit() for ch in out)


def test_plugins_json_lists_shipped_plugins_with_package():
    rows = json.loads(invoke("plugins", "--json").stdout)
    by = {(r["kind"], r["name"]): r for r in rows}
    for key in [("method", "os-scl"), ("method", "noisy-arcmix"), ("method", "arcface"),
                ("frontend", "tfstgram"), ("frontend", "logmel"), ("frontend", "stgram"),
                ("frontend", "tastgram"), ("backbone", "mobilefacenet"),
                ("dataset", "synthetic"), ("dataset", "dcase2020"), ("dataset", "folder"),
                ("scorer", "ce")]:
        assert key in by, key
        assert by[key]["package"] == "asdbench" and by[key]["version"]
    assert len(by) == len(rows), "a name is listed twice"
    assert all(list(r) == ["kind", "name", "package", "version", "plugin", "description"]
               for r in rows)


def test_plugins_lists_metric_protocols_and_table_kinds_with_their_plugin():
    rows = json.loads(invoke("plugins", "--json").stdout)
    plugin = {(r["kind"], r["name"]): r["plugin"] for r in rows}
    assert {n for k, n in plugin if k == "protocol"} >= {"dcase2020", "pooled", "dcase2021",
                                                          "dcase2022"}
    assert plugin["protocol", "dcase2022"] == "dcase_editions"
    assert plugin["protocol", "dcase2020"] == "asdbench-metrics"
    assert {n for k, n in plugin if k == "table"} >= {"types", "table2", "table6"}
    assert plugin["table", "table2"] == "osscl" and plugin["table", "types"] == ""
    described = {r["name"]: r["description"] for r in rows if r["kind"] == "table"}
    assert described["table2"].startswith("OS-SCL paper Table II")
    table = invoke("plugins").stdout
    assert "protocol" in table and "dcase2022" in table and "table6" in table
    # a plugin without components (a tracker) is listed by the hooks it implements
    hooks = {r["name"]: r["description"] for r in rows if r["kind"] == "hooks"}
    assert hooks["tensorboard"] == "implements run_started, epoch_end, run_finished"


def test_plugins_list_and_one_component_import_no_torch():
    for args in (("plugins", "--json"), ("plugins", "os-scl")):
        modules = _imported_modules(*args)
        # the shipped plugins' hooks ran (modules imported by importlib are not listed)
        assert "asdbench_osscl.options" in modules and "rich.table" in modules, args
        assert "torch" not in modules, args
    # one component's options come from the light schema modules alone
    assert not {"numpy", "soundfile", "pandas"} & modules


def _fake_install(tmp_path: Path) -> dict:
    """Make the example package discoverable as an installed distribution (as pluggy's tests do)."""
    dist = tmp_path / "asdbench_example_plugin-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: asdbench-example-plugin\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[asdbench]\nexample = asdbench_example\n")
    path = os.pathsep.join([str(tmp_path), str(EXAMPLE), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path}


def test_plugins_name_lists_the_component_settings():
    result = invoke("plugins", "knn", "--json")
    assert result.exit_code == 0, result.output
    (knn,) = json.loads(result.stdout)
    assert knn["kind"] == "scorer" and knn["package"] == "asdbench"
    assert [o["setting"] for o in knn["options"]] == ["scorer.k", "scorer.normalize"]
    assert knn["options"][0]["default"] == 1 and knn["options"][0]["help"]
    missing = invoke("plugins", "knnn")
    assert missing.exit_code == 1 and "no component named 'knnn'" in missing.stderr


@pytest.mark.slow
def test_example_third_party_plugin_appears_and_runs(tmp_path):
    env = _fake_install(tmp_path)
    rows = json.loads(asdbench("plugins", "--json", env=env).stdout)
    ours = [r for r in rows if r["name"] == "linspec"]
    assert ours == [{**ours[0], "kind": "frontend", "package": "asdbench-example-plugin",
                     "version": "0.1.0"}]
    info = json.loads(asdbench("describe", "--method", "arcface", "--frontend", "linspec",
                               "--dataset", "dcase2020", "--json", env=env).stdout)
    assert info["input_shape"] == [1, 128, 313] and info["params"] > 0
    # blocking it hides it
    rows = json.loads(asdbench("plugins", "--json",
                               env={**env, "ASDBENCH_DISABLE_PLUGINS": "example"}).stdout)
    assert not [r for r in rows if r["name"] == "linspec"]


@pytest.mark.parametrize("args, needle", [
    (["run", "--method", "os-sc"], "did you mean 'os-scl'"),
    (["run", "--frontend", "tfstgam"], "did you mean 'tfstgram'"),
    (["run", "--set", "method.margn=0.3"], "method.margn"),
    (["run", "--set", "train.epoch=3"], "unknown setting 'train.epoch'"),
    (["run", "--epochs", "0"], "at least 1"),
    (["run", "--device", "cuda:7", "--set", "data.clip_seconds=1"], "cuda:7"),
    (["run", "--dataset", "dcase2020", "--data-root", "/nonexistent/dcase"], "/nonexistent/dcase"),
    (["run", "--config", "/nonexistent.toml"], "/nonexistent.toml"),
    (["score", "--run", "/nonexistent/run", "x.wav"], "/nonexistent/run"),
])
def test_bad_input_is_one_clear_line_and_nonzero_exit(args, needle):
    result = invoke(*args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert needle in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_every_command_has_help_with_examples():
    for cmd in ["run", "describe", "plugins", "score", "eval", "matrix", "leaderboard",
                "export", "data check"]:
        result = invoke(*cmd.split(), "--help")
        assert result.exit_code == 0, (cmd, result.output)
        assert "Examples" in result.output or "Example" in result.output, cmd


@pytest.mark.parametrize("setting,message", [
    ("train.epochs=abc", "train.epochs must be an integer, at least 1; got 'abc'"),
    ("train.epochs=true", "train.epochs must be an integer, at least 1; got True"),
    ("train.batch_size=1", "train.batch_size must be an integer, at least 2; got 1"),
    ("train.lr=0", "train.lr must be a number above 0; got 0"),
    ("train.lr=inf", "train.lr must be a number above 0; got inf"),
    ("train.ema_decay=nan", "train.ema_decay must be a number above 0; got nan"),
    ("train.select=best", "train.select must be one of val_ce, last, test; got 'best'"),
    ("train.max_steps_per_epoch=-1", "train.max_steps_per_epoch must be an integer, at least 0"),
    ("train.val_fraction=1.0", "train.val_fraction must be in [0, 1)"),
])
def test_bad_engine_settings_fail_before_any_work_with_one_line(setting, message):
    from asdbench.config import parse_sets, resolve  # noqa: PLC0415
    from asdbench.plugins import get_registry  # noqa: PLC0415
    from asdbench.registry import AsdbenchError  # noqa: PLC0415

    with pytest.raises(AsdbenchError) as err:
        resolve(parse_sets([setting]), get_registry())
    assert message in str(err.value) and "\n" not in str(err.value)


def _set_metrics(auc: float, n: int) -> dict:
    avg = {"auc": auc, "pauc": auc / 2, "f1": 0.5}
    return {"n_clips": n, "n_labelled": n, "submission": f"submission-{n}",
            "protocols": {"dcase2020": {"average": avg, "types": {"fan": avg}, "ids": {}}}}


def test_run_json_prints_each_sets_metrics_and_names_the_set_of_the_top_numbers(
        monkeypatch, tmp_path):
    """A finished DCASE 2020 run with a dev and an eval set (its metrics.json made here)."""
    import asdbench.run.pipeline as pipeline  # noqa: PLC0415
    from asdbench.run.rundir import RunDir  # noqa: PLC0415

    sets = {"dev": _set_metrics(0.8, 12), "eval": _set_metrics(0.6, 20)}
    metrics = {"run_id": "r1", "official_protocol": "dcase2020", "official_set": "eval",
               "protocols": sets["dev"]["protocols"], "sets": sets, "wall_time_s": 3.0}
    run = RunDir(tmp_path / "r1")
    monkeypatch.setattr(pipeline, "train_and_evaluate", lambda *a, **k: (metrics, run))
    result = invoke("run", "--json", "--results", str(tmp_path), "--quiet")
    assert result.exit_code == 0, (result.stderr, result.exception)
    out = json.loads(result.stdout)
    assert out["sets"] == sets  # every set's numbers, as metrics.json holds them
    assert (out["set"], out["official_set"]) == ("dev", "eval")
    assert out["dcase2020"] == {"auc": 0.8, "pauc": 0.4}  # the dev set's, as "set" says
    assert out["protocols"] == sets["dev"]["protocols"]
    # a run written now keeps the official set's numbers at the top level, named by "set"
    metrics.update(set="eval", protocols=sets["eval"]["protocols"])
    out = json.loads(invoke("run", "--json", "--results", str(tmp_path), "--quiet").stdout)
    assert (out["set"], out["dcase2020"]["auc"]) == ("eval", 0.6) and out["sets"] == sets
    del metrics["set"]
    # only an eval set: the top-level numbers are its own
    metrics.update(sets={"eval": sets["eval"]}, protocols=sets["eval"]["protocols"])
    out = json.loads(invoke("run", "--json", "--results", str(tmp_path), "--quiet").stdout)
    assert (out["set"], out["dcase2020"]["auc"]) == ("eval", 0.6)
    # a run from before sets were kept apart: no sets, and no set claimed
    del metrics["sets"], metrics["official_set"]
    out = json.loads(invoke("run", "--json", "--results", str(tmp_path), "--quiet").stdout)
    assert out["set"] is None and "sets" not in out and out["dcase2020"]["auc"] == 0.6
