"""Immutable components.

Objectives, parameterizations, transforms, regularizers and optimizers are baked into a compiled
loop and the loop is cached by their identity, so changing one after the fact would be silently
ignored. They are frozen instead: set attributes once in __init__ through ``_set``.
"""


class Immutable:
    __slots__ = ()

    def _set(self, **values):
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(
            f"{type(self).__name__} objects are immutable: make a new one instead "
            f"of setting '{name}'"
        )

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} objects are immutable")
