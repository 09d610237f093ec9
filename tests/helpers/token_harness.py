"""Token sources for the sans-IO session tests: hydra's ``jwt/login`` on the fake cloud, a
pump answering ``RequestToken`` like the driver, and sessions built on each source."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from session_harness import BASE, ORG, FakeCloud, Pump, _json

from webex_meetings.core.config import SessionConfig
from webex_meetings.core.credentials import Credentials
from webex_meetings.core.effects import Effect, RequestToken
from webex_meetings.core.http import HttpRequest, HttpResponse
from webex_meetings.core.inputs import TokenProvided, TokenProviderFailed
from webex_meetings.core.redaction import Secret
from webex_meetings.core.session import MeetingsSession

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndWVzdC0xIiwiaXNzIjoiaXNzdWVyIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
LIFETIME = 1000


@dataclass
class GuestCloud(FakeCloud):
    """The fake cloud, plus hydra's ``jwt/login`` answering ``{token, expiresIn}``."""

    logins: int = 0

    def _answer(self, request: HttpRequest) -> HttpResponse:
        if request.url.endswith("/jwt/login"):
            if request.header("authorization") != JWT:
                return _json(401, {"message": "The JWT is not valid"})
            self.logins += 1
            token = f"guest{self.logins}token_PF84_{ORG}"
            return _json(200, {"token": token, "expiresIn": LIFETIME})
        return super()._answer(request)


class ProviderPump(Pump):
    """The pump, answering ``RequestToken`` from ``answers`` (a token, ``(token, lifetime)``,
    an exception, or ``"hang"``) the way the driver does."""

    def __init__(self, session: MeetingsSession, cloud: FakeCloud, *answers: Any) -> None:
        super().__init__(session, cloud)
        self.answers: deque[Any] = deque(answers)
        self.asked = 0

    def _apply(self, effect: Effect) -> None:
        if not isinstance(effect, RequestToken):
            super()._apply(effect)
            return
        self.asked += 1
        answer = self.answers.popleft()
        if isinstance(answer, Exception):
            self._inputs.append(TokenProviderFailed(effect.request_id, str(answer)))
        elif isinstance(answer, tuple):
            self._inputs.append(TokenProvided(effect.request_id, Secret(answer[0]), answer[1]))
        elif answer != "hang":
            self._inputs.append(TokenProvided(effect.request_id, Secret(answer)))


def guest_session(config: SessionConfig | None = None) -> MeetingsSession:
    config = config or SessionConfig.for_cloud(BASE)
    return MeetingsSession(config, Credentials.from_jwt(JWT), rng=random.Random(7))


def provider_session(config: SessionConfig | None = None) -> MeetingsSession:
    config = config or SessionConfig.for_cloud(BASE)
    return MeetingsSession(config, Credentials.from_provider(), rng=random.Random(7))


def token(n: int) -> str:
    return f"provided{n}token_PF84_{ORG}"


def logins(cloud: FakeCloud) -> list[HttpRequest]:
    return [r for r in cloud.requests if r.step == "credentials.jwt_login"]
