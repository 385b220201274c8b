"""Typed option schemas of components and the checks of single option values.

A component declares each option in ``Component.options`` either as a plain default (its type
is inferred: ``bool``, ``int`` and ``float`` defaults are checked, other defaults accept any
value) or as an :class:`Option` with a type, a range, literal choices and a help text. The
registry checks every value a user sets against it, so ``--set method.scale=abc`` fails with
one line naming the option before the factory runs. Plugins use these names through
:mod:`asdbench.sdk`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, NamedTuple

from asdbench.errors import AsdbenchError

_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class Option:
    """One option: its default and what values it accepts.

    ``type``: ``bool``, ``int``, ``float`` (an int is fine) or ``str``. ``choices`` are literal
    values: without a ``type`` they are the only values accepted, beside one they are accepted
    in addition (``Option("auto", type=float, minimum=0, choices=("auto",))``). With neither,
    the type is inferred from a bool/int/float ``default``; any other default accepts any
    value (paths, lists). ``minimum``/``maximum`` are inclusive bounds and ``above`` an
    exclusive one (numbers only). ``help`` is shown by ``asdbench plugins <name>``.
    ``omit_default=True`` (for an option added after runs were made) leaves it out of a
    resolved run config while at its default, so those runs keep their run ids.
    """

    default: Any
    type: type | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    choices: tuple[Any, ...] = ()
    help: str = ""
    omit_default: bool = False

    def __post_init__(self) -> None:
        if self.type is not None and self.type not in _TYPES:
            raise TypeError(f"Option type must be one of bool, int, float, str; got {self.type}")

    @property
    def value_type(self) -> type | None:
        """The declared type, else the one inferred from a bool/int/float default (None: no
        type, only the choices or anything)."""
        if self.type is not None or self.choices:
            return self.type
        default_type = type(self.default)
        return default_type if default_type in (bool, int, float) else None

    def accepts(self, value: Any) -> bool:
        if any(_same(value, c) for c in self.choices):
            return True
        kind = self.value_type
        if kind is None:
            return not self.choices  # neither typed nor a choice list: anything
        if not _is_type(value, kind):
            return False
        if kind in (int, float):
            # inf and nan pass every comparison below or fail silently: never a setting
            return (math.isfinite(value)
                    and (self.minimum is None or value >= self.minimum)
                    and (self.maximum is None or value <= self.maximum)
                    and (self.above is None or value > self.above))
        return True

    def describe(self) -> str:
        """What the option accepts, e.g. ``a number above 0`` or ``'auto' or an integer``."""
        kind = self.value_type
        words = ", ".join(dict.fromkeys(_literal(c) for c in self.choices))
        if kind is None:
            return f"one of {words}" if self.choices else "any value"
        text = {bool: "true or false", int: "an integer", float: "a number",
                str: "a string"}[kind]
        if kind in (int, float):
            text += _bounds(self)
        return f"{words} or {text}" if self.choices else text

    def check(self, value: Any, name: str, owner: str = "") -> Any:
        """``value`` unchanged if accepted, else an AsdbenchError
        ``<owner>: <name> must be <describe()>; got <value>``."""
        if not self.accepts(value):
            raise AsdbenchError(f"{owner + ': ' if owner else ''}{name} must be "
                                f"{self.describe()}; got {value!r}")
        return value


class OptionInfo(NamedTuple):
    """One row of :meth:`asdbench.registry.Component.describe_options`."""

    name: str
    default: Any
    type: str  # what it accepts, in words (``Option.describe``)
    help: str


def as_option(value: Any) -> Option:
    """A declared :class:`Option` as is; a plain default as an Option inferring its type."""
    return value if isinstance(value, Option) else Option(value)


def option_defaults(options: dict[str, Any]) -> dict[str, Any]:
    """The plain default of every option of a schema (``Option`` or plain values)."""
    return {key: as_option(value).default for key, value in options.items()}


def _is_type(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):  # True is an int to Python, not to a user
        return False
    if kind is int:
        return isinstance(value, Integral)
    if kind is float:
        return isinstance(value, Real)
    return isinstance(value, kind)


def _same(value: Any, choice: Any) -> bool:
    # ``1 == True`` and ``0 == False`` in Python: a choice matches only a value of its own kind
    if choice is None or isinstance(choice, bool) or isinstance(value, bool):
        return value is choice
    return type(value) is type(choice) and value == choice


def _literal(value: Any) -> str:
    """A choice as a user types it (``true``, not ``True``; None, from a saved config, as the
    ``'none'`` a user would type)."""
    if value is None or isinstance(value, bool):
        return {None: "'none'", True: "true", False: "false"}[value]
    return repr(value)


def _bounds(option: Option) -> str:
    parts = []
    if option.above is not None:
        parts.append(f" above {option.above:g}")
    if option.minimum is not None:
        parts.append(f", at least {option.minimum:g}")
    if option.maximum is not None:
        parts.append(f", at most {option.maximum:g}")
    return "".join(parts)


# --- checking a component's option values by hand (inside a factory) ---------------------


def _name(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def int_option(options: dict[str, Any], key: str, prefix: str, *, minimum: int = 1,
               owner: str = "") -> int:
    """``options[key]`` as an int >= ``minimum``, else an AsdbenchError naming
    ``<owner>: <prefix>.<key>`` (``prefix``: ``data``, ``frontend``, ``scorer`` ...)."""
    check = Option(0, type=int, minimum=minimum)
    return int(check.check(options[key], _name(prefix, key), owner))


def float_option(options: dict[str, Any], key: str, prefix: str, *,
                 above: float | None = None, owner: str = "") -> float:
    """``options[key]`` as a float (an int is fine), ``> above`` when given, else an
    AsdbenchError naming ``<owner>: <prefix>.<key>``."""
    check = Option(0.0, type=float, above=above)
    return float(check.check(options[key], _name(prefix, key), owner))


def bool_option(options: dict[str, Any], key: str, prefix: str, *, owner: str = "") -> bool:
    """``options[key]`` if it is ``True`` or ``False`` (not 1, not "yes"), else an
    AsdbenchError naming ``<owner>: <prefix>.<key>``."""
    return Option(False).check(options[key], _name(prefix, key), owner)


def choice_option(options: dict[str, Any], key: str, prefix: str, choices: tuple[Any, ...], *,
                  owner: str = "") -> Any:
    """``options[key]`` if it is one of ``choices``, else an AsdbenchError naming
    ``<owner>: <prefix>.<key>`` and listing the choices."""
    return Option(choices[0], choices=tuple(choices)).check(options[key], _name(prefix, key),
                                                            owner)
