"""asdbench: a plugin-based benchmark for unsupervised anomalous sound detection of machines.

A plugin needs only ``from asdbench import hookimpl``; the hooks it may implement are
documented in :mod:`asdbench.hookspecs`, and everything else it may import is in
:mod:`asdbench.sdk` (the most used names are also here, loaded on first use). Importing
asdbench has no side effect: no environment variable is set, no plugin or torch is loaded.
"""

from asdbench.meta import PROJECT_NAME, __version__, hookimpl, hookspec

# The supported names of asdbench.sdk, importable from the top package too.
_SDK_NAMES = ("AsdbenchError", "AudioSpec", "Clip", "Component", "DataReport", "Option")

__all__ = ["hookimpl", "hookspec", "__version__", "PROJECT_NAME", *_SDK_NAMES]


def __getattr__(name: str):
    if name in _SDK_NAMES:  # loaded on first use, so `import asdbench` stays light
        from asdbench import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'asdbench' has no attribute {name!r}")
