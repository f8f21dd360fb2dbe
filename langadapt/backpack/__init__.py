"""Backpack-GPT2 in both checkpoint formats.

The classes load on first use (PEP 562), so the light parts of the package (its error type) cost no torch;
`import langadapt` arranges the registration with transformers' Auto classes (`register_with_transformers`).
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

_HOMES = {"BackpackGPT2Config": "configuration", "backpack_format": "configuration",
          "is_backpack_config_dict": "configuration", "BackpackGPT2LMHeadModel": "modeling",
          "BackpackGPT2Model": "modeling", "BackpackGPT2Output": "modeling"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = importlib.import_module(f".{_HOMES[name]}", __name__)
    register_with_transformers()  # in case transformers was first imported by `home` itself
    globals()[name] = getattr(home, name)
    return globals()[name]


def _loading_backpack_module() -> bool:
    """True while one of this package's modules is half-executed: registering then would import it twice."""
    prefix = f"{__name__}."
    return any(getattr(getattr(module, "__spec__", None), "_initializing", False)
               for name, module in list(sys.modules.items()) if name.startswith(prefix))


class _RegisterAfterTransformers(importlib.abc.MetaPathFinder):
    """Finds `transformers` like the other finders do, and registers the Backpack once it has executed."""

    def find_spec(self, name, path=None, target=None):
        if name != "transformers":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def execute_then_register(module):
            execute(module)
            if not _loading_backpack_module():
                importlib.import_module(".auto", __name__).register()

        spec.loader.exec_module = execute_then_register
        return spec


def register_with_transformers() -> None:
    """Register the Backpack with the Auto classes now if transformers is loaded, else as soon as it is:
    a script's `--help` then never waits for torch, and `AutoModelForCausalLM` still knows the Backpack."""
    if "transformers" in sys.modules:
        if not _loading_backpack_module():
            importlib.import_module(".auto", __name__).register()
    elif not any(isinstance(finder, _RegisterAfterTransformers) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterTransformers())
