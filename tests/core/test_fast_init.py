"""The faster ``__init__`` of the core's frozen, slotted dataclasses: the same class as the
one ``dataclass`` generates, in every way a caller can see."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator
from dataclasses import InitVar, dataclass, field
from typing import Any

import pytest

from webex_meetings.core import (
    device_store,
    effects,
    events,
    http,
    http_client,
    inputs,
    mercury,
    mercury_link,
    purposes,
)
from webex_meetings.core.fast_init import fast_init


def _make(*, faster: bool) -> type[Any]:
    @dataclass(frozen=True, slots=True)
    class Sample:
        required: int
        default: str = "d"
        factory: list[int] = field(default_factory=list, compare=False)
        left_out: int = field(default=0, compare=False, repr=False)

    return fast_init(Sample) if faster else Sample


FAST, PLAIN = _make(faster=True), _make(faster=False)

CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((1,), {}),
    ((1, "x"), {}),
    ((1, "x", [2]), {}),
    ((1, "x", [2], 3), {}),
    ((), {"required": 1, "factory": [3]}),
    ((1,), {"left_out": 5, "default": "y"}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_the_same_values_as_the_generated_init(args: tuple[Any, ...], kwargs: dict[str, Any]):
    fast, plain = FAST(*args, **kwargs), PLAIN(*args, **kwargs)
    assert dataclasses.astuple(fast) == dataclasses.astuple(plain)
    assert repr(fast) == repr(plain)
    assert fast == FAST(*args, **kwargs)
    assert hash(fast) == hash(FAST(*args, **kwargs))
    assert dataclasses.replace(fast, required=9).required == 9


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((1, 2, 3, 4, 5), {}), ((1,), {"nope": 1}), ((1,), {"required": 2})],
)
def test_the_same_errors_as_the_generated_init(args: tuple[Any, ...], kwargs: dict[str, Any]):
    with pytest.raises(TypeError):
        PLAIN(*args, **kwargs)
    with pytest.raises(TypeError):
        FAST(*args, **kwargs)


def test_each_instance_gets_a_fresh_default_and_stays_frozen():
    first, second = FAST(1), FAST(1)
    assert first.factory == []
    assert first.factory is not second.factory
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.required = 2  # type: ignore[misc]
    assert not hasattr(first, "__dict__")


def test_the_same_signature_and_names():
    assert inspect.signature(FAST).parameters.keys() == inspect.signature(PLAIN).parameters.keys()
    assert FAST.__init__.__qualname__ == PLAIN.__init__.__qualname__
    assert FAST.__init__.__module__ == __name__
    assert FAST.__init__.__annotations__ == PLAIN.__init__.__annotations__


def _refused() -> Iterator[type[Any]]:
    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int = field(kw_only=True)

    @dataclass(frozen=True, slots=True)
    class NotInInit:
        a: int = field(default=0, init=False)

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        b: InitVar[int]

    yield from (NotFrozen, NoSlots, PostInit, KeywordOnly, NotInInit, WithInitVar, int)


@pytest.mark.parametrize("cls", list(_refused()), ids=lambda cls: cls.__name__)
def test_what_it_cannot_reproduce_is_refused(cls: type[Any]):
    before = cls.__init__
    with pytest.raises(TypeError):
        fast_init(cls)
    assert cls.__init__ is before


def _core_dataclasses() -> Iterator[type[Any]]:
    modules = (device_store, effects, events, http, http_client, inputs, mercury, mercury_link)
    for module in (*modules, purposes):
        for value in vars(module).values():
            is_own = isinstance(value, type) and value.__module__ == module.__name__
            if is_own and dataclasses.is_dataclass(value):
                yield value


@pytest.mark.parametrize("cls", list(_core_dataclasses()), ids=lambda cls: cls.__qualname__)
def test_the_cores_dataclasses_take_their_fields_in_order(cls: type[Any]):
    """Whichever ``__init__`` a core dataclass has, it takes its fields, in order, with
    their defaults."""
    parameters = list(inspect.signature(cls).parameters.values())
    fields = [f for f in dataclasses.fields(cls) if f.init]
    assert [p.name for p in parameters] == [f.name for f in fields]
    for parameter, f in zip(parameters, fields, strict=True):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        assert (parameter.default is inspect.Parameter.empty) == required
        if f.default is not dataclasses.MISSING:
            assert parameter.default == f.default
