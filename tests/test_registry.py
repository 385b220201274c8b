"""Registry and plugin-loading behaviour: lookup, suggestions, duplicates, broken plugins."""

import sys
import warnings

import pytest

from asdbench import hookimpl
from asdbench.config import parse_sets, resolve, run_id
from asdbench.plugins import load_plugins
from asdbench.registry import (
    AsdbenchError,
    Component,
    DeprecatedNameWarning,
    DuplicateComponentError,
    Registry,
    UnknownComponentError,
)
from asdbench.sdk import Option, bool_option, choice_option


def _factory(options, **kwargs):
    return {"options": options, **kwargs}


class FrontendPlugin:
    @hookimpl
    def asdbench_frontends(self):
        return [Component("spectro", _factory, {"bins": 64}, "a test frontend")]


class SamePlugin:
    @hookimpl
    def asdbench_frontends(self):
        return [Component("spectro", _factory)]


class RaisingPlugin:
    @hookimpl
    def asdbench_scorers(self):
        raise RuntimeError("boom")


def test_lookup_create_and_list():
    reg = Registry()
    reg.add("frontend", Component("logmel", _factory, {"n_mels": 128}))
    reg.add("frontend", Component("stgram", _factory))
    assert reg.names("frontend") == ["logmel", "stgram"]
    assert reg.names("frontend", "st*") == ["stgram"]
    built = reg.create("frontend", "logmel", {"n_mels": 64}, audio="A")
    assert built == {"options": {"n_mels": 64}, "audio": "A"}
    assert reg.is_registered("frontend", "logmel") and not reg.is_registered("method", "logmel")


def test_typo_suggests_close_names():
    reg = Registry()
    reg.add("method", Component("os-scl", _factory))
    reg.add("method", Component("noisy-arcmix", _factory))
    with pytest.raises(UnknownComponentError, match=r"unknown method 'os-sc'.*did you mean 'os-scl'"):
        reg.get("method", "os-sc")


def test_unknown_option_is_an_error_with_suggestion():
    comp = Component("logmel", _factory, {"n_mels": 128}, kind="frontend")
    with pytest.raises(AsdbenchError, match=r"frontend.n_mel'.*did you mean 'n_mels'"):
        comp.create({"n_mel": 64})


def test_duplicate_names_keep_the_first_and_name_both_and_what_to_set():
    plugins = load_plugins([("one", FrontendPlugin()), ("two", SamePlugin())],
                           entry_points_enabled=False)
    assert plugins.registry.get("frontend", "spectro").plugin == "one"
    message = plugins.failures["two"]
    assert "frontend 'spectro' is provided twice" in message
    assert "ASDBENCH_DISABLE_PLUGINS=two (or =one)" in message


def test_plugin_whose_hook_raises_is_skipped_and_reported():
    ps = load_plugins([("good", FrontendPlugin()), ("bad", RaisingPlugin())],
                      entry_points_enabled=False)
    assert ps.registry.names("frontend") == ["spectro"]
    assert "bad" in ps.failures and "boom" in ps.failures["bad"]
    with pytest.raises(UnknownComponentError, match="failed to load: bad"):
        ps.registry.get("scorer", "ce")


def test_broken_entry_point_is_skipped(tmp_path, monkeypatch):
    """A third-party package whose module fails to import is reported with its package name."""
    dist = tmp_path / "brokenpkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenpkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[asdbench]\nbroken = brokenpkg_mod\n")
    (tmp_path / "brokenpkg_mod.py").write_text("raise ImportError('missing dependency xyz')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ps = load_plugins()
    assert "broken" in ps.failures
    assert "brokenpkg" in ps.failures["broken"] and "missing dependency xyz" in ps.failures["broken"]
    # the shipped plugins still load
    assert "os-scl" in ps.registry.names("method")
    sys.modules.pop("brokenpkg_mod", None)


def test_env_blocks_and_restricts_plugins(monkeypatch):
    monkeypatch.setenv("ASDBENCH_DISABLE_PLUGINS", "scorers")
    ps = load_plugins()
    assert "scorers" not in {c.plugin for c in ps.registry} and ps.registry.names("method")
    assert not ps.registry.is_registered("scorer", "knn")
    monkeypatch.delenv("ASDBENCH_DISABLE_PLUGINS")
    monkeypatch.setenv("ASDBENCH_PLUGINS", "scorers")
    ps = load_plugins()
    assert ps.registry.names("scorer") and not ps.registry.is_registered("method", "os-scl")
    assert {c.plugin for c in ps.registry} == {"scorers"}


def test_parse_sets_reads_toml_literals():
    assert parse_sets(["method.margin=0.5", "data.types=fan,valve", "x.flag=true", "n=3"]) == {
        "method.margin": 0.5, "data.types": "fan,valve", "x.flag": True, "n": 3}
    with pytest.raises(AsdbenchError, match="key=value"):
        parse_sets(["novalue"])


def test_resolve_fills_defaults_and_rejects_unknown_keys():
    ps = load_plugins()
    paper = resolve({"dataset": "dcase2020"}, ps.registry)
    assert (paper["train.lr"], paper["train.batch_size"], paper["train.epochs"]) == (1e-4, 64, 300)
    assert paper["train.ema_decay"] == 0.9999 and paper["train.ema_warmup"] is False
    # the synthetic set suggests its short-run recipe; what the user sets always wins
    cfg = resolve({"method": "os-scl", "frontend": "tfstgram"}, ps.registry)
    assert cfg["train.ema_warmup"] is True and cfg["train.batch_size"] == 32
    assert resolve({"train.batch_size": 8}, ps.registry)["train.batch_size"] == 8
    assert any(k.startswith("method.") for k in cfg)
    assert run_id(cfg).startswith("os-scl_tfstgram_mobilefacenet_synthetic_s0_")
    assert run_id(cfg) != run_id({**cfg, "seed": 1})
    assert run_id(cfg) == run_id({**cfg, "train.device": "cuda"})  # where it ran is not identity
    with pytest.raises(AsdbenchError, match="unknown setting 'train.epoch'.*train.epochs"):
        resolve({"train.epoch": 3}, ps.registry)
    with pytest.raises(AsdbenchError, match="at least 1"):
        resolve({"train.epochs": 0}, ps.registry)
    with pytest.raises(UnknownComponentError, match="did you mean"):
        resolve({"method": "noisy-arcmx"}, ps.registry)



def test_option_checks_name_the_setting_and_reject_bools_and_strings():
    import numpy as np  # noqa: PLC0415

    from asdbench.sdk import float_option, int_option  # noqa: PLC0415

    assert int_option({"k": np.int64(3)}, "k", "scorer") == 3
    assert int_option({"seed": 0}, "seed", "data", minimum=0) == 0
    for bad in (0, True, 2.0, "3"):
        with pytest.raises(AsdbenchError, match=r"^synthetic: data\.k must be an integer, at least 1"):
            int_option({"k": bad}, "k", "data", owner="synthetic")
    assert float_option({"t": 2}, "t", "method", above=0) == 2.0
    with pytest.raises(AsdbenchError, match=r"^method\.t must be a number above 0; got 0"):
        float_option({"t": 0}, "t", "method", above=0)
    with pytest.raises(AsdbenchError, match=r"must be a number; got True"):
        float_option({"t": True}, "t", "method")
    assert bool_option({"f": False}, "f", "data") is False
    for bad in (0, "yes", None):
        with pytest.raises(AsdbenchError, match=r"^x: data\.f must be true or false; got"):
            bool_option({"f": bad}, "f", "data", owner="x")
    assert choice_option({"m": "htk"}, "m", "frontend", ("slaney", "htk")) == "htk"
    with pytest.raises(AsdbenchError, match=r"frontend\.m must be one of 'slaney', 'htk'; got 1"):
        choice_option({"m": 1}, "m", "frontend", ("slaney", "htk"))


# --- option schemas, aliases ----------------------------------------------------------------


def _schema_component() -> Component:
    return Component("thing", _factory, {
        "scale": 30.0,  # plain default: a number
        "flag": True,
        "path": "",  # plain str default: anything (paths, lists)
        "margin": Option("auto", type=float, minimum=0, choices=("auto",), help="m"),
        "act": Option("relu", choices=("relu", "gelu")),
        "width": Option(64, minimum=1, maximum=512, help="channels"),
    }, kind="method")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("scale", "abc", "thing: method.scale must be a number; got 'abc'"),
    ("flag", 1, "thing: method.flag must be true or false; got 1"),
    ("margin", "big", "thing: method.margin must be 'auto' or a number, at least 0; got 'big'"),
    ("margin", -1, "thing: method.margin must be 'auto' or a number, at least 0; got -1"),
    ("act", "tanh", "thing: method.act must be one of 'relu', 'gelu'; got 'tanh'"),
    ("width", 1024, "thing: method.width must be an integer, at least 1, at most 512; got 1024"),
    ("width", 8.0, "thing: method.width must be an integer, at least 1, at most 512; got 8.0"),
])
def test_schema_rejects_a_bad_value_in_one_line(key, value, message):
    with pytest.raises(AsdbenchError) as info:
        _schema_component().create({key: value})
    assert str(info.value) == message


def test_schema_accepts_values_unchanged_and_returns_plain_defaults():
    comp = _schema_component()
    built = comp.create({"scale": 2, "margin": 0.5, "path": ["a", "b"], "width": 512})
    assert built["options"] == {"scale": 2, "flag": True, "path": ["a", "b"], "margin": 0.5,
                                "act": "relu", "width": 512}
    assert comp.defaults["margin"] == "auto" and comp.defaults["width"] == 64


def test_describe_options_lists_name_default_type_and_help():
    rows = _schema_component().describe_options()
    assert [r.name for r in rows] == ["scale", "flag", "path", "margin", "act", "width"]
    assert rows[3] == ("margin", "auto", "'auto' or a number, at least 0", "m")
    assert rows[5] == ("width", 64, "an integer, at least 1, at most 512", "channels")
    assert (rows[0].type, rows[1].type, rows[2].type) == ("a number", "true or false",
                                                         "any value")


def test_a_schema_error_surfaces_at_config_resolution():
    with pytest.raises(AsdbenchError, match=r"^os-scl: method\.scale must be a number above 0; "
                                            r"got 'abc'$"):
        resolve(parse_sets(["method.scale=abc"]), load_plugins().registry)


def test_aliases_resolve_and_a_deprecated_one_warns_once():
    reg = Registry()
    reg.add("method", Component("new-name", _factory, aliases=("short",),
                                deprecated_aliases=("old-name",)))
    assert reg.get("method", "short").name == "new-name"
    assert reg.names("method") == ["new-name"] and reg.is_registered("method", "old-name")
    with pytest.warns(DeprecatedNameWarning, match="'old-name' is deprecated.*'new-name'"):
        assert reg.canonical_name("method", "old-name") == "new-name"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reg.create("method", "old-name", {}) == {"options": {}}  # no second warning
    with pytest.raises(DuplicateComponentError, match="'short' is provided twice"):
        reg.add("method", Component("short", _factory))
    with pytest.raises(DuplicateComponentError, match="'new-name' is provided twice"):
        reg.add("method", Component("other", _factory, deprecated_aliases=("new-name",)))


def _module_factory(tmp_path, monkeypatch, name: str) -> None:
    """An importable module ``name`` with ``build(options, **kwargs)``, not imported yet."""
    (tmp_path / f"{name}.py").write_text(
        "def build(options, **kwargs):\n    return ('built', options, kwargs)\n\nNOT_CALLABLE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_a_string_factory_is_imported_on_first_create(tmp_path, monkeypatch):
    _module_factory(tmp_path, monkeypatch, "asd_lazy_frontend")
    reg = Registry()
    reg.add("frontend", Component("lazy", "asd_lazy_frontend:build", {"bins": 64}))
    assert reg.get("frontend", "lazy").defaults == {"bins": 64}
    assert "asd_lazy_frontend" not in sys.modules  # registering and listing import nothing
    assert reg.create("frontend", "lazy", {"bins": 32}, audio="A") == (
        "built", {"bins": 32}, {"audio": "A"})
    assert "asd_lazy_frontend" in sys.modules
    assert reg.get("frontend", "lazy").load_factory() is sys.modules["asd_lazy_frontend"].build


@pytest.mark.parametrize("target, reason", [
    ("asd_no_such_module:build", "cannot load its factory 'asd_no_such_module:build': "
                                 "ModuleNotFoundError: No module named 'asd_no_such_module'"),
    ("asd_lazy_scorer:nope", "cannot load its factory 'asd_lazy_scorer:nope': AttributeError: "
                             "module 'asd_lazy_scorer' has no attribute 'nope'"),
    ("asd_lazy_scorer:NOT_CALLABLE", "factory 'asd_lazy_scorer:NOT_CALLABLE' is a int, "
                                     "not a callable"),
    ("asd_lazy_scorer.build", "factory 'asd_lazy_scorer.build' is not "
                              "'package.module:function'"),
])
def test_a_bad_string_factory_is_one_line_naming_component_and_package(
        tmp_path, monkeypatch, target, reason):
    _module_factory(tmp_path, monkeypatch, "asd_lazy_scorer")
    reg = Registry()
    reg.add("scorer", Component("lazy", target, package="acme-asd"))
    with pytest.raises(AsdbenchError) as info:
        reg.create("scorer", "lazy")
    assert str(info.value) == f"scorer 'lazy' (package acme-asd): {reason}"


def test_every_shipped_component_names_a_factory_that_resolves_and_documents_its_options():
    shipped = [c for c in load_plugins().registry if c.package == "asdbench"]
    assert len(shipped) >= 20
    for comp in shipped:
        assert isinstance(comp.factory, str), comp.name  # listing imports no component module
        assert callable(comp.load_factory()), comp.name
        undocumented = [o.name for o in comp.describe_options() if not o.help]
        assert not undocumented, (comp.name, undocumented)
