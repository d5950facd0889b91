"""Immutable components that compare by value.

Objectives, parameterizations, transforms, regularizers and optimizers are baked into a compiled
loop, and the loop is cached by them, so changing one after the fact would be silently ignored.
They are frozen instead: set attributes once in __init__ through ``_set``.

Being frozen, they can compare and hash by what they are made of: two ``total_variation(0.05)``
are equal, so a second call with equal settings finds the compiled loop of the first instead of
tracing a new one. A component is made of its fields, except one made by a ``factory``: a
closure's code compares by identity, so such a component is what made it, the factory and its
arguments. Arguments compare by value where they are data (numbers, strings, arrays, tuples,
other components) and by identity otherwise (a model, a function).
"""

import functools
import inspect

import numpy as np
import tensorflow as tf


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

    def _value(self):
        """What the object is, as a hashable tuple (computed once: nothing changes it)."""
        fields = vars(self)
        if "_value_of" not in fields:
            made_by = fields.get("_made_by")
            if made_by is None:
                made_by = tuple(sorted((name, hashable(v)) for name, v in fields.items()))
            object.__setattr__(self, "_value_of", (type(self), made_by))
        return fields["_value_of"]

    def _made_by_value(self, *recipe):
        """Compare by ``recipe`` (hashable) instead of the fields; returns self."""
        object.__setattr__(self, "_made_by", hashable(recipe))
        return self

    def __eq__(self, other):
        if self is other:
            return True
        if not isinstance(other, Immutable) or type(other) is not type(self):
            return NotImplemented
        return self._value() == other._value()

    def __hash__(self):
        return hash(self._value())


class Identity:
    """An object that compares by identity inside a value (and keeps it alive while used)."""

    __slots__ = ("thing",)

    def __init__(self, thing):
        self.thing = thing

    def __eq__(self, other):
        return isinstance(other, Identity) and other.thing is self.thing

    def __hash__(self):
        return id(self.thing)


def hashable(value):
    """``value`` as something hashable that is equal exactly when the values are equal."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, Immutable)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):  # a list and a tuple of equal items make the same thing
        return ("sequence",) + tuple(hashable(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(hashable(v) for v in value)
    if isinstance(value, dict):
        return ("dict",) + tuple(sorted((k, hashable(v)) for k, v in value.items()))
    # an array or a constant tensor by its contents; a variable (it changes) by identity
    if isinstance(value, (np.ndarray, tf.Tensor)):
        try:
            array = np.asarray(value)
        except (TypeError, NotImplementedError):  # a symbolic tensor
            return Identity(value)
        if array.dtype != object:
            return ("array", array.dtype.str, array.shape, array.tobytes())
    return Identity(value)


def factory(make=None, data=()):
    """Decorate a function that makes a component: what it makes compares by the function and its
    arguments (defaults filled in), not by the closure it holds. ``data``: the names of arguments
    the product carries as data itself (an objective's targets), left out of that recipe."""
    if make is None:
        return lambda make: factory(make, data)
    data = (data,) if isinstance(data, str) else tuple(data)
    signature = inspect.signature(make)

    @functools.wraps(make)
    def made(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        recipe = tuple((k, v) for k, v in bound.arguments.items() if k not in data)
        return make(*args, **kwargs)._made_by_value(make.__module__, make.__qualname__, recipe)

    return made
