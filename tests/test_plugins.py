"""Plugin loading: a broken plugin is reported with its name and skipped, never fatal."""

from __future__ import annotations

import types

import click
import pytest

from asdbench import hookimpl
from asdbench import plugins as plugin_loading
from asdbench.cli import AsdbenchGroup, add_plugin_commands
from asdbench.registry import Component


class _Good:
    @hookimpl
    def asdbench_scorers(self):
        return [Component("good-scorer", lambda options: None, {}, "fine")]


class _Misspelled:
    @hookimpl
    def asdbench_scorer(self):  # not a hook: the plugin must be dropped, not the tool
        return []


def test_misspelled_hook_drops_only_that_plugin():
    ps = plugin_loading.load_plugins([("good", _Good()), ("typo", _Misspelled())],
                                     entry_points_enabled=False)
    assert "typo" in ps.failures and "asdbench_scorer" in ps.failures["typo"]
    assert ps.registry.names("scorer") == ["good-scorer"]


class _FakeEntryPoint:
    def __init__(self, name: str, load):
        self.name, self.load = name, load
        self.dist = types.SimpleNamespace(name=f"pkg-{name}", version="1.0")


def test_plugin_exiting_at_import_is_reported_with_its_package(monkeypatch):
    def exits():
        raise SystemExit(3)

    monkeypatch.setattr(plugin_loading, "entry_points",
                        lambda group: [_FakeEntryPoint("exiter", exits),
                                       _FakeEntryPoint("good", lambda: _Good())])
    ps = plugin_loading.load_plugins()
    assert ps.failures["exiter"].startswith("package pkg-exiter: SystemExit")
    assert ps.registry.names("scorer") == ["good-scorer"]


def test_registry_is_built_on_first_use_only():
    calls = []

    class Counting:
        @hookimpl
        def asdbench_scorers(self):
            calls.append(1)
            return []

    ps = plugin_loading.load_plugins([("c", Counting())], entry_points_enabled=False)
    assert calls == []  # loading plugins (e.g. for --help) builds no component
    ps.registry.names("scorer")
    ps.registry.names("scorer")
    assert calls == [1]


def test_failing_commands_hook_is_skipped_with_a_warning(monkeypatch, capsys):
    class Broken:
        @hookimpl
        def asdbench_commands(self, cli):
            raise RuntimeError("boom")

    class Adds:
        @hookimpl
        def asdbench_commands(self, cli):
            cli.add_command(click.Command("hello", callback=lambda: None))

    ps = plugin_loading.load_plugins([("broken", Broken()), ("adds", Adds())],
                                     entry_points_enabled=False)
    monkeypatch.setattr(plugin_loading, "default_plugins", lambda: ps)
    group = AsdbenchGroup("t")
    add_plugin_commands(group)
    assert "hello" in group.list_commands(click.Context(group))
    assert "run" in group.lazy  # the core's commands, registered by module name
    err = capsys.readouterr().err
    assert "plugin 'broken' (package broken) failed to add its commands" in err and "boom" in err


@pytest.mark.parametrize("blocked", [True, False])
def test_core_commands_plugin_is_blockable_like_any_other(blocked):
    ps = plugin_loading.load_plugins(entry_points_enabled=False,
                                     block={"asdbench-commands"} if blocked else set())
    assert ps.manager.has_plugin("asdbench-commands") is not blocked


# --- the command line's one place for expected failures -----------------------------------


def _group_raising(exc: BaseException) -> click.Group:
    group = AsdbenchGroup("t")
    group.params.append(click.Option(["--debug"], is_flag=True))

    @group.command("boom")
    def boom():
        raise exc

    return group


@pytest.mark.parametrize("exc, needle", [
    (PermissionError(13, "Permission denied", "/r/metrics.json"),
     "permission denied: /r/metrics.json; check its permissions"),
    (OSError(28, "No space left on device", "/r/state.pt"),
     "no space left on device: /r/state.pt; free some space"),
    (OSError(30, "Read-only file system", "/ro/x"), "read-only file system: /ro/x; choose a"),
])
def test_os_errors_are_one_line_naming_the_file(exc, needle):
    from click.testing import CliRunner

    result = CliRunner().invoke(_group_raising(exc), ["boom"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {needle}")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_debug_shows_the_traceback(monkeypatch):
    from click.testing import CliRunner

    result = CliRunner().invoke(_group_raising(OSError(28, "No space", "/x")), ["--debug", "boom"])
    assert isinstance(result.exception, OSError)  # re-raised, not turned into a line
    monkeypatch.setenv("ASDBENCH_DEBUG", "1")
    result = CliRunner().invoke(_group_raising(OSError(28, "No space", "/x")), ["boom"])
    assert isinstance(result.exception, OSError)


def test_unwritable_results_folder_fails_before_any_work(tmp_path):
    from click.testing import CliRunner

    from asdbench.cli import cli

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    add_plugin_commands(cli)
    result = CliRunner().invoke(cli, ["run", "--results", str(blocker / "results"),
                                      "--set", "data.clip_seconds=1"])
    assert result.exit_code == 1
    assert f"cannot write to the results folder {blocker / 'results'}" in result.stderr
    assert blocker.read_text() == "not a folder"


def test_top_package_exports_the_sdk_names_lazily():
    import subprocess
    import sys

    code = ("import sys, asdbench; before = 'asdbench.sdk' in sys.modules; "
            "from asdbench import Component, Option, Clip; import asdbench.sdk as sdk; "
            "print(before, Component is sdk.Component and Clip is sdk.Clip, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120).stdout.split()
    assert out == ["False", "True", "False"], out


class _DuplicateOfShipped:
    @hookimpl
    def asdbench_scorers(self):
        return [Component("knn", lambda options: None, {}, "a second knn")]


class _ComponentHookRaises:
    @hookimpl
    def asdbench_methods(self):
        from asdbench.errors import AsdbenchError

        raise AsdbenchError("my plugin's own error")


class _NotAComponent:
    @hookimpl
    def asdbench_frontends(self):
        return ["not a component"]


@pytest.mark.parametrize("name, plugin, needle", [
    ("typo", _Misspelled(), "asdbench_scorer"),
    ("dup", _DuplicateOfShipped(), "ASDBENCH_DISABLE_PLUGINS=dup"),
    ("raises", _ComponentHookRaises(), "my plugin's own error"),
    ("wrong", _NotAComponent(), "returned str, expected Component"),
])
def test_plugins_command_works_with_each_broken_plugin_installed(monkeypatch, name, plugin,
                                                                 needle):
    from click.testing import CliRunner

    from asdbench.cli import cli

    ps = plugin_loading.load_plugins([(name, plugin)])  # the shipped plugins + the broken one
    monkeypatch.setattr(plugin_loading, "default_plugins", lambda: ps)
    add_plugin_commands(cli)
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    assert f"plugin '{name}' failed to load and was skipped" in result.stderr
    assert needle in result.stderr
    assert "os-scl" in result.stdout  # the others still listed
