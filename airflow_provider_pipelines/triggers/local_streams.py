"""Shared streams where the triggerer has none (Airflow 3.0 to 3.2), in one event loop.

Airflow 3.3's triggerer runs one poll per ``shared_stream_key`` for the event triggers that
declare one (``open_shared_stream``) and feeds each trigger's ``filter_shared_stream``. An
event trigger's ``run()`` (what older triggerers call) can do the same here: the first
subscriber of a key in an event loop starts the poll, each gets every raw event from the time
it joined, a failure of the poll is raised in every subscriber, and the last one to leave
stops it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class _Failed:
    error: BaseException


@dataclass(eq=False)
class _LocalPoll:
    """One poll in this event loop, fanning its raw events out to the triggers that share it."""

    slot: tuple[int, Hashable]
    queues: list[asyncio.Queue[Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def pump(self, cls: Any, kwargs: dict[str, Any]) -> None:
        try:
            async for raw in cls.open_shared_stream(kwargs):
                for queue in self.queues:
                    queue.put_nowait(raw)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the poll ended: every trigger on it ends with its error
            self._forget()
            for queue in self.queues:
                queue.put_nowait(_Failed(exc))

    def _forget(self) -> None:
        if _LOCAL_POLLS.get(self.slot) is self:
            del _LOCAL_POLLS[self.slot]


# (event loop id, shared stream key) -> the poll
_LOCAL_POLLS: dict[tuple[int, Hashable], _LocalPoll] = {}


class LocalSubscription:
    """A trigger's place on the poll of its key in this event loop: joined at once (the poll starts
    with its first trigger), left explicitly (the poll stops with its last).

    :param cls: the trigger class, whose ``open_shared_stream(kwargs)`` is the poll.
    :param kwargs: the arguments of the first trigger of the key (those the key is made of count).
    :param key: the trigger's ``shared_stream_key()``.
    """

    def __init__(self, cls: Any, kwargs: dict[str, Any], key: Hashable) -> None:
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        poll = _LOCAL_POLLS.get(slot)
        if poll is None or poll.task is None or poll.task.done() or poll.task.get_loop() is not loop:
            poll = _LocalPoll(slot)
            _LOCAL_POLLS[slot] = poll
            poll.task = loop.create_task(poll.pump(cls, kwargs))
        self.poll = poll
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        poll.queues.append(self.queue)

    async def stream(self) -> AsyncIterator[Any]:
        """The raw events of the poll from when this subscription joined; a poll failure is raised."""
        while True:
            item = await self.queue.get()
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def leave(self) -> None:
        """Leave the poll (call it once, whether the stream was read or not)."""
        self.poll.queues.remove(self.queue)
        if not self.poll.queues and self.poll.task is not None:
            self.poll.task.cancel()
            self.poll._forget()
