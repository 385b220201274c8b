"""The plugin set: every hook call goes through one place that isolates a failing plugin."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from asdbench import hookimpl
from asdbench import plugins as plugin_loading
from asdbench.config import resolve
from asdbench.errors import AsdbenchError
from asdbench.registry import Component
from asdbench.testing import TINY_RUN


class _Chatty:
    """Prints from every hook it implements, as a careless plugin would."""

    @hookimpl
    def asdbench_scorers(self):
        print("chatty: registering")
        return [Component("chatty-scorer", _printing_factory, {}, "prints")]

    @hookimpl
    def asdbench_tables(self):
        print("chatty: tables")
        return []


def _printing_factory(options):
    print("chatty: building")
    raise RuntimeError("cannot build")


class _Raises:
    @hookimpl
    def asdbench_reference_results(self):
        raise RuntimeError("offline")

    @hookimpl
    def asdbench_run_finished(self, run_dir, metrics):
        raise ConnectionError("tracker offline")


def _loaded(*extra):
    return plugin_loading.load_plugins(list(extra), entry_points_enabled=False)


def test_collect_type_checks_and_names_the_package_of_a_failing_plugin(capsys):
    class Wrong:
        @hookimpl
        def asdbench_scorers(self):
            return ["not a component"]

    ps = _loaded(("wrong", Wrong()), ("raises", _Raises()))
    assert ps.collect("asdbench_scorers", Component) == []
    assert "returned str, expected Component" in ps.failures["wrong"]
    assert ps.collect("asdbench_reference_results", dict, warn=True) == []
    assert ps.collect("asdbench_reference_results", dict, warn=True) == []
    err = capsys.readouterr().err
    assert err.count("warning: plugin 'raises'") == 1  # once, however often it is asked
    assert "RuntimeError: offline" in err and "package" in ps.failures["raises"]


def test_a_raising_lifecycle_hook_warns_once_and_the_others_still_run(capsys, tmp_path):
    seen = []

    class Records:
        @hookimpl
        def asdbench_run_finished(self, run_dir, metrics):
            seen.append(metrics)

    ps = _loaded(("raises", _Raises()), ("records", Records()))
    for _ in range(2):
        ps.notify("asdbench_run_finished", run_dir=tmp_path, metrics={"x": 1})
    assert seen == [{"x": 1}, {"x": 1}]
    err = capsys.readouterr().err
    assert err.count("warning: plugin 'raises' (package raises) failed to run its "
                     "asdbench_run_finished hook") == 1
    assert "ConnectionError: tracker offline" in err


def test_plugin_prints_go_to_stderr_and_a_failing_factory_is_one_line(capsys):
    ps = _loaded(("chatty", _Chatty()))
    assert ps.registry.names("scorer") == ["chatty-scorer"]
    with pytest.raises(AsdbenchError) as info:
        ps.registry.create("scorer", "chatty-scorer")
    message = str(info.value)
    assert message == ("scorer 'chatty-scorer' (package chatty): its factory failed: "
                       "RuntimeError: cannot build")
    out, err = capsys.readouterr()
    assert out == "" and "chatty: registering" in err and "chatty: building" in err


def test_plugins_json_stays_json_with_a_printing_plugin(monkeypatch):
    from asdbench.cli import add_plugin_commands, cli

    ps = plugin_loading.load_plugins([("chatty", _Chatty())])
    monkeypatch.setattr(plugin_loading, "default_plugins", lambda: ps)
    add_plugin_commands(cli)
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert any(r["name"] == "chatty-scorer" for r in rows)
    assert "chatty: registering" in result.stderr


def test_trace_plugins_turns_on_pluggy_monitoring(monkeypatch, capsys):
    monkeypatch.setenv(plugin_loading.ENV_TRACE, "1")
    ps = _loaded(("chatty", _Chatty()))
    ps.registry.names("scorer")
    err = capsys.readouterr().err
    assert "asdbench_scorers" in err and "finish" in err


def _marked(protocol):
    """The protocol with its average AUC replaced by a marker value."""
    def compute(df):
        result = protocol.compute(df)
        return {**result, "average": {**result["average"], "auc": 0.123}}
    return dataclasses.replace(protocol, compute=compute)


@pytest.mark.slow
def test_a_custom_plugin_set_reaches_its_hooks_and_protocols(tmp_path, capsys):
    from asdbench.metrics.dcase2020 import PROTOCOLS
    from asdbench.run.pipeline import train_and_evaluate

    epochs = []

    class Mine:
        @hookimpl
        def asdbench_protocols(self):
            return [_marked(p) for p in PROTOCOLS]

        @hookimpl
        def asdbench_epoch_end(self, run_dir, record):
            epochs.append(record["epoch"])

    ps = plugin_loading.load_plugins([("mine", Mine()), ("raises", _Raises())],
                                     block={"asdbench-metrics"})
    cfg = resolve({**TINY_RUN, "train.epochs": 1, "data.root": str(tmp_path / "data")},
                  ps.registry)
    metrics, run = train_and_evaluate(cfg, tmp_path / "results", progress=False,
                                      registry=ps.registry)
    assert len(epochs) == 1
    assert metrics["protocols"]["dcase2020"]["average"]["auc"] == 0.123
    assert run.is_finished(cfg.run_id)  # the raising run_finished did not undo the run
    assert "tracker offline" in capsys.readouterr().err


class _CrashingCheck:
    @hookimpl
    def asdbench_check_run(self, config):
        raise KeyError("frontend.checkpoint")


class _RefusingCheck:
    @hookimpl
    def asdbench_check_run(self, config):
        raise AsdbenchError("weights.pt: missing; run asdbench weights fetch")


def test_a_run_check_stops_in_one_line_naming_the_package():
    with pytest.raises(AsdbenchError, match=r"^weights\.pt: missing"):
        _loaded(("refuses", _RefusingCheck())).check("asdbench_check_run", config={})
    with pytest.raises(AsdbenchError) as err:
        _loaded(("crashes", _CrashingCheck())).check("asdbench_check_run", config={})
    line = str(err.value)
    assert "\n" not in line and "asdbench_check_run" in line and "KeyError" in line
