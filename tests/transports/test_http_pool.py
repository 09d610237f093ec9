"""The asyncio HTTP transport's pool as a state machine: random sequences of requests (to two
origins, some wanting a fresh connection), answers (clean or not), cancellations, servers
closing idle connections and expiries (and a waiter cancelled in the turn it is handed a
connection), with connections that open at once. After every step
the books balance: a slot per connection, never more than the cap, nothing idle while anyone
waits, and a waiter only while every slot is taken."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from webex_meetings.transports import _http_pool
from webex_meetings.transports._http_connection import HttpConnection, Origin
from webex_meetings.transports._http_pool import ConnectionPool

ORIGINS = (Origin("http", "a.test", 80), Origin("https", "b.test", 443))
MAX_CONNECTIONS = 3
MAX_IDLE = 2


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closing = False

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True


class InstantConnection(HttpConnection):
    """Opens at once, without a socket."""

    async def open(self, ssl_context: ssl.SSLContext | None) -> None:
        self.connection_made(FakeTransport())


class PoolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.real_connection = _http_pool.HttpConnection
        _http_pool.HttpConnection = InstantConnection  # type: ignore[misc]
        self.loop = asyncio.new_event_loop()
        self.pool = ConnectionPool(
            self.loop,
            ssl_context=ssl.create_default_context(),
            connect_timeout=10.0,
            max_connections=MAX_CONNECTIONS,
            max_idle=MAX_IDLE,
            keepalive_expiry=5.0,
        )
        self.requests: list[asyncio.Task[tuple[HttpConnection, bool]]] = []
        self.busy: list[HttpConnection] = []

    def teardown(self) -> None:
        self.pool.close()
        for task in self.requests:
            task.cancel()
        self.settle()
        self.loop.close()
        _http_pool.HttpConnection = self.real_connection  # type: ignore[misc]

    def settle(self) -> None:
        """Run the loop until nothing is left to do now; take what the requests got."""
        for _ in range(5):
            self.loop.run_until_complete(asyncio.sleep(0))
        for task in [task for task in self.requests if task.done()]:
            self.requests.remove(task)
            if not task.cancelled() and task.exception() is None:
                self.busy.append(task.result()[0])

    def waiting(self) -> list[asyncio.Task[tuple[HttpConnection, bool]]]:
        return [task for task in self.requests if not task.done()]

    def idle(self) -> list[HttpConnection]:
        return [connection for stack in self.pool._idle.values() for connection in stack]

    @rule(origin=st.sampled_from(ORIGINS), fresh=st.booleans())
    def request(self, origin: Origin, fresh: bool) -> None:
        deadline = self.loop.time() + 1000
        coroutine = self.pool.acquire(origin, deadline, fresh=fresh)
        self.requests.append(self.loop.create_task(coroutine))
        self.settle()

    @precondition(lambda self: self.busy)
    @rule(data=st.data(), clean=st.booleans())
    def answer(self, data: st.DataObject, clean: bool) -> None:
        connection = data.draw(st.sampled_from(self.busy))
        self.busy.remove(connection)
        connection.reusable = clean
        self.pool.release(connection)
        self.settle()

    @precondition(lambda self: self.waiting())
    @rule(data=st.data())
    def cancel_a_waiter(self, data: st.DataObject) -> None:
        data.draw(st.sampled_from(self.waiting())).cancel()
        self.settle()

    @precondition(lambda self: self.busy and self.waiting())
    @rule(data=st.data(), clean=st.booleans())
    def answer_and_cancel_the_waiters_in_the_same_turn(
        self, data: st.DataObject, clean: bool
    ) -> None:
        """What the pool hands a waiter in this turn must not be lost when the waiter is
        cancelled before it runs."""
        connection = data.draw(st.sampled_from(self.busy))
        self.busy.remove(connection)
        connection.reusable = clean
        self.pool.release(connection)
        for task in self.waiting():
            task.cancel()
        self.settle()

    @precondition(lambda self: self.idle())
    @rule(data=st.data())
    def server_closes_an_idle_connection(self, data: st.DataObject) -> None:
        data.draw(st.sampled_from(self.idle())).connection_lost(None)
        self.settle()

    @precondition(lambda self: self.idle())
    @rule()
    def idle_ones_expire(self) -> None:
        for connection in self.idle():
            connection.idle_since -= 60
        self.pool._close_expired()
        self.settle()

    @invariant()
    def the_books_balance(self) -> None:
        pool, idle = self.pool, self.idle()
        assert all(pool._idle.values())
        assert pool.idle == len(idle)
        assert pool._slots == len(pool) == len(self.busy) + len(idle) <= MAX_CONNECTIONS
        assert len(idle) <= MAX_IDLE
        assert not set(idle) & set(self.busy)
        if self.waiting():
            assert not idle
            assert pool._slots == MAX_CONNECTIONS
            assert len([w for w in pool._waiters if not w[2].done()]) == len(self.waiting())


PoolMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=25, deadline=None)
test_the_pool_keeps_its_books = PoolMachine.TestCase
