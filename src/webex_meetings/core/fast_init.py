"""A faster ``__init__`` for the core's frozen, slotted dataclasses.

Theory of operation
-------------------
Inputs, effects, requests and the protocol objects' actions are small frozen dataclasses,
and a session makes about fifty of them in a lifecycle (init, register, unregister). A frozen
dataclass's generated ``__init__`` sets each field with ``object.__setattr__(self, name,
value)``, which looks the field up on the type again for every field of every instance: a
tenth of a lifecycle's time (``bench/core_cycles.py``). :func:`fast_init`, a class decorator
placed above ``@dataclass``, gives such a class an ``__init__`` that sets each field through
its slot's own descriptor instead (found once, when the class is made). Nothing else
changes: the class is the same dataclass (``fields``, ``replace``, ``repr``, equality,
hashing, immutability), with the same parameters, defaults and default factories.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

__all__ = ["fast_init"]

_C = TypeVar("_C", bound=type)


def fast_init(cls: _C) -> _C:
    """Class decorator (above ``@dataclass``): give the frozen, slotted dataclass ``cls``
    the faster ``__init__``; returns ``cls``.

    :raises TypeError: ``cls`` is not a frozen, slotted dataclass, or has what the faster
        ``__init__`` does not reproduce (``__post_init__``, ``InitVar``, fields left out of
        ``__init__`` or keyword-only).
    """
    _replace_init(cls)
    return cls


def _replace_init(cls: type[Any]) -> None:
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass")
    fields = dataclasses.fields(cls)
    parameters = list(inspect.signature(cls.__init__).parameters)[1:]  # InitVars included
    plain = all(f.init and not f.kw_only for f in fields)
    if hasattr(cls, "__post_init__") or not plain or parameters != [f.name for f in fields]:
        raise TypeError(f"{cls.__name__}: only plain fields get a faster __init__")
    namespace: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    signature, body = [], []
    for index, field in enumerate(fields):
        namespace[f"_set{index}"] = getattr(cls, field.name).__set__
        if field.default is not dataclasses.MISSING:
            namespace[f"_default{index}"] = field.default
            signature.append(f"{field.name}=_default{index}")
            body.append(f"    _set{index}(self, {field.name})")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory{index}"] = field.default_factory
            signature.append(f"{field.name}=_MISSING")
            value = f"_factory{index}() if {field.name} is _MISSING else {field.name}"
            body.append(f"    _set{index}(self, {value})")
        else:
            signature.append(field.name)
            body.append(f"    _set{index}(self, {field.name})")
    source = f"def __init__(self, {', '.join(signature)}):\n" + "\n".join(body or ["    pass"])
    exec(source, namespace)
    init = namespace["__init__"]
    generated = cls.__init__
    init.__module__ = cls.__module__
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = generated.__doc__
    init.__annotations__ = dict(generated.__annotations__)
    cls.__init__ = init
