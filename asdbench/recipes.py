"""Training recipes: named presets a method component brings (``recipe = "authors"``).

Every method trains on the engine's shared recipe, ``common`` (``config.TRAIN_DEFAULTS``: the
OS-SCL paper's AdamW, EMA, batch 64, selection on EMA validation CE), unless the run names
another recipe of its method. A method lists its presets in its component's ``recipes``
(``{name: {key: value}}``, e.g. ``{"authors": {"train.weight_decay": 0.0, ...}}``); a preset
may set engine settings (``train.*``), decision settings (``decision.*``) and component
options (``frontend.*``, ...), never the component names. What the user sets always wins
over a preset, and a preset over the components' ``train_defaults``. The recipe's name is
recorded with the run (``recipe`` in ``config.json``, hashed into the run id unless it is
``common``), its values as the settings they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asdbench.errors import AsdbenchError
from asdbench.registry import KINDS, Registry

COMMON = "common"  # the engine's shared recipe: no preset


def method_recipes(registry: Registry, method: str) -> dict[str, dict[str, Any]]:
    """The presets method ``method`` brings (none when its component declares none)."""
    return dict(getattr(registry.get("method", method), "recipes", None) or {})


def recipe_settings(registry: Registry, method: str, recipe: Any) -> dict[str, Any]:
    """The settings recipe ``recipe`` of method ``method`` sets; ``{}`` for ``common``.

    An unknown name is a one-line error listing the method's recipes."""
    if not isinstance(recipe, str) or not recipe.strip():
        raise AsdbenchError(f"recipe must be a name ({COMMON} or one of the method's); "
                            f"got {recipe!r}")
    if recipe == COMMON:
        return {}
    recipes = method_recipes(registry, method)
    if recipe not in recipes:
        names = ", ".join([COMMON, *sorted(recipes)])
        raise AsdbenchError(f"method '{method}' has no recipe '{recipe}'; recipes: {names}")
    preset = dict(recipes[recipe])
    bad = sorted(k for k in preset if k in KINDS or k in ("recipe", "seed"))
    if bad:
        raise AsdbenchError(f"recipe '{recipe}' of method '{method}' sets '{bad[0]}': a recipe "
                            f"sets train.*, decision.* and component options only")
    return preset


def apply_recipe(cfg: dict[str, Any], overrides: Mapping[str, Any],
                 preset: Mapping[str, Any]) -> None:
    """Put ``preset``'s values into ``cfg`` where the user (``overrides``) set nothing."""
    for key, value in preset.items():
        if overrides.get(key) is None:
            cfg[key] = value
