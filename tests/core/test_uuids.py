"""Frame and session ids: uuid4 strings drawn from the session's own seeded generator."""

from __future__ import annotations

import random
import uuid

from hypothesis import given
from hypothesis import strategies as st

from webex_meetings.core.uuids import random_uuid4


@given(st.integers(min_value=0, max_value=2**64))
def test_random_uuid4_is_what_the_uuid_module_makes_of_the_same_bits(seed: int) -> None:
    ours, theirs = random.Random(seed), random.Random(seed)
    for _ in range(5):
        text = random_uuid4(ours)
        assert text == str(uuid.UUID(int=theirs.getrandbits(128), version=4))
        assert uuid.UUID(text).version == 4
