"""Secrets never show: Secret's repr/str/pickle, and redact() over every credential shape."""

from __future__ import annotations

import copy
import json
import pickle
from urllib.parse import quote, urlencode

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from webex_meetings.core.redaction import REDACTED, Secret, redact, register_secret

TOKEN = "T1BBUVVFLUFDQ0VTUy1UT0tFTi1FWEFNUExF_PF84_1eb65fdf-9643-417f-9974-ad72cae0e10f"

CASES = {
    "bearer header": (f"authorization: Bearer {TOKEN}", f"authorization: Bearer {REDACTED}"),
    "bearer lower case": (f"bearer {TOKEN}", f"bearer {REDACTED}"),
    "bearer with tab": (f"Bearer\t{TOKEN}", f"Bearer\t{REDACTED}"),
    "doubled bearer": (f"Bearer Bearer {TOKEN}", f"Bearer Bearer {REDACTED}"),
    "basic header": (
        "Authorization: Basic Y2xpZW50OnNlY3JldA==",
        f"Authorization: Basic {REDACTED}",
    ),
    "bearer in a sentence": (f"sent Bearer {TOKEN} to wdm", f"sent Bearer {REDACTED} to wdm"),
    "json token (mercury authorization)": (
        json.dumps({"type": "authorization", "data": {"token": f"Bearer {TOKEN}"}}),
        json.dumps({"type": "authorization", "data": {"token": REDACTED}}),
    ),
    "json oauth answer": (
        f'{{"access_token":"{TOKEN}","expires_in":1209599,"refresh_token":"r{TOKEN}"}}',
        f'{{"access_token":"{REDACTED}","expires_in":1209599,"refresh_token":"{REDACTED}"}}',
    ),
    "json with spaces and escapes": (
        '{"client_secret" :  "a\\"b\\\\c"}',
        f'{{"client_secret" :  "{REDACTED}"}}',
    ),
    "json key case": (f'{{"ACCESS_TOKEN": "{TOKEN}"}}', f'{{"ACCESS_TOKEN": "{REDACTED}"}}'),
    "python dict repr": (
        repr({"access_token": TOKEN, "n": 1}),
        repr({"access_token": REDACTED, "n": 1}),
    ),
    "form body": (
        f"grant_type=refresh_token&refresh_token={TOKEN}&client_id=abc",
        f"grant_type=refresh_token&refresh_token={REDACTED}&client_id=abc",
    ),
    "form client secret and code": (
        "code=abc123&client_secret=s3cr3t&redirect_uri=x",
        f"code={REDACTED}&client_secret={REDACTED}&redirect_uri=x",
    ),
    "query string": (
        f"https://idbroker.webex.com/cb?access_token={TOKEN}&state=x",
        f"https://idbroker.webex.com/cb?access_token={REDACTED}&state=x",
    ),
    "implicit grant fragment": (
        f"https://app.invalid/cb#access_token={TOKEN}&token_type=Bearer",
        f"https://app.invalid/cb#access_token={REDACTED}&token_type=Bearer",
    ),
    "password and assertion": (
        "password=hunter22 assertion=eyJhbGciOi",
        f"password={REDACTED} assertion={REDACTED}",
    ),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


UNTOUCHED = [
    "",
    "GET https://wdm.wbx2.com/wdm/api/v1/devices answered 404",
    '{"eventType": "mercury.buffer_state", "id": "15120821"}',
    "errorcode=7&barcode=5",  # keys only count as whole names
    "tokens are counted",
    '{"tokenType": "x", "expires_in": 3}',
]


@pytest.mark.parametrize("text", UNTOUCHED)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_is_idempotent() -> None:
    for name, (text, _) in CASES.items():
        if name == "doubled bearer":  # re-redacting reads the second "Bearer" as the token
            continue
        once = redact(text)
        assert redact(once) == once


# -- registered secrets --------------------------------------------------------------------


def test_registered_secret_is_masked_anywhere() -> None:
    secret = Secret("plain-value-no-pattern-7e1")
    assert redact("x plain-value-no-pattern-7e1y") == f"x {REDACTED}y"
    assert secret.reveal() == "plain-value-no-pattern-7e1"


def test_longest_registered_secret_wins() -> None:
    short, long = Secret("abcdefgh-1"), Secret("abcdefgh-1-and-more")
    assert redact("abcdefgh-1-and-more / abcdefgh-1") == f"{REDACTED} / {REDACTED}"
    del short, long


def test_short_secrets_are_not_masked_by_value() -> None:
    Secret("abc")  # too short to mask everywhere without mangling ordinary text
    assert redact("abc abcdef") == "abc abcdef"


def test_secret_is_forgotten_when_collected() -> None:
    secret = Secret("forget-me-after-gc-42")
    assert redact("forget-me-after-gc-42") == REDACTED
    del secret
    import gc

    gc.collect()
    assert redact("forget-me-after-gc-42") == "forget-me-after-gc-42"


def test_register_secret_is_idempotent() -> None:
    secret = Secret("register-twice-123")
    register_secret(secret)
    assert redact("register-twice-123") == REDACTED


# -- Secret itself -------------------------------------------------------------------------


def test_secret_never_shows_its_value() -> None:
    secret = Secret(TOKEN)
    shown = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        format(secret, ""),
        repr([secret]),
    ]
    assert all(TOKEN not in text for text in shown)
    assert repr(secret) == f"Secret({REDACTED!r})"
    assert str(secret) == REDACTED


def test_secret_cannot_be_pickled_or_copied_by_reduce() -> None:
    secret = Secret(TOKEN)
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        copy.copy(secret)


def test_secret_equality_and_truth() -> None:
    assert Secret("same-value-1") == Secret("same-value-1")
    assert Secret("same-value-1") != Secret("other-value-2")
    assert Secret("same-value-1") != "same-value-1"
    assert hash(Secret("same-value-1")) == hash(Secret("same-value-1"))
    assert not Secret("")
    assert Secret("x")


def test_secret_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_secret_has_no_dict() -> None:
    with pytest.raises(AttributeError):
        Secret("x").__dict__  # noqa: B018


# -- property: a token never survives ------------------------------------------------------

TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
tokens = st.text(alphabet=TOKEN_ALPHABET, min_size=8, max_size=80)
noise = st.text(max_size=40)
keys = st.sampled_from(["access_token", "refresh_token", "client_secret", "id_token", "token"])


def _embeddings(token: str, key: str, before: str, after: str) -> list[str]:
    return [
        f"{before} Bearer {token} {after}",
        f"{before}\nAuthorization: bearer {token}\n{after}",
        f"{before} Basic {token}",
        before + json.dumps({"note": after, key: token, "n": 1}) + after,
        before + json.dumps({"data": {key: f"Bearer {token}"}}),
        repr({key: token, "note": after}),
        urlencode({"grant_type": "refresh_token", key: token, "note": after}),
        f"https://example.invalid/cb?{urlencode({key: token})}&state={quote(after)}",
        f"{before} {key}={token}&{quote(after)}",
    ]


@given(token=tokens, key=keys, before=noise, after=noise)
def test_no_token_survives_redaction(token: str, key: str, before: str, after: str) -> None:
    assume(token not in before and token not in after and token not in key)
    assume(quote(token, safe="") not in before + after)
    # nor in the fixed text around it ("grant_ty" is in grant_type=...): only the token's
    # own occurrences must go
    assume(not any(token in text for text in _embeddings("", key, before, after)))
    for text in _embeddings(token, key, before, after):
        out = redact(text)
        assert token not in out, text
        assert quote(token, safe="") not in out, text


@given(token=tokens, text=noise)
def test_registered_secret_never_survives(token: str, text: str) -> None:
    secret = Secret(token)
    out = redact(f"{text}{token}{text}")
    assert token not in out
    del secret


# -- the registry scales and remembers what a session held ----------------------------------


def test_a_superseded_token_stays_masked_while_its_session_lives() -> None:
    import gc

    from webex_meetings.core.credentials import Credentials
    from webex_meetings.core.http import HttpResponse

    first = "first-token-superseded-by-a-refresh-91c2"
    current = Credentials(first, refresh_token="refresh-1-abcdefgh", client_id="c")
    answer = b'{"access_token": "second-token-after-refresh-77aa", "expires_in": 60}'
    current = current.refreshed(HttpResponse(200, (), answer), now=0.0)
    gc.collect()
    echoed = f"server says: your old token {first} expired"
    assert first not in redact(echoed)
    assert "second-token-after-refresh-77aa" not in redact("x second-token-after-refresh-77aa")
    del current
    gc.collect()
    assert first in redact(echoed)  # forgotten with its session


def test_a_secret_glued_to_other_text_is_masked() -> None:
    secret = Secret("glued-secret-value-0042")
    assert redact("xxglued-secret-value-0042yy") == f"xx{REDACTED}yy"
    assert redact("glued-secret-value-0042glued-secret-value-0042") == REDACTED * 2
    del secret


def test_many_live_secrets_are_all_masked() -> None:
    secrets = [Secret(f"fleet-token-{n:06d}-abcdef") for n in range(2000)]
    text = " ".join(s.reveal() for s in secrets[::97])
    assert "fleet-token" not in redact(text)
    assert redact("no secret here, just words") == "no secret here, just words"
    del secrets


def test_secrets_sharing_a_prefix_are_each_masked() -> None:
    a, b = Secret("shared-prefix-AAAA"), Secret("shared-prefix-BBBBBBBB")
    assert redact("shared-prefix-AAAA shared-prefix-BBBBBBBB") == f"{REDACTED} {REDACTED}"
    del a
    import gc

    gc.collect()
    assert redact("shared-prefix-AAAA shared-prefix-BBBBBBBB") == f"shared-prefix-AAAA {REDACTED}"
    del b


@pytest.mark.parametrize(
    "text",
    [
        "pass credentials= or access_token=, or set WEBEX_ACCESS_TOKEN",
        "NetworkDisconnected(code=4400, reason='replaced', will_reconnect=False)",
        "WebSocketClosed(socket_id=3, code=1000, reason='')",
    ],
)
def test_our_own_prose_and_close_codes_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_an_oauth_code_is_still_masked() -> None:
    assert redact("cb?code=AQB12x_y&state=1") == f"cb?code={REDACTED}&state=1"
    assert redact("password=123456") == f"password={REDACTED}"
