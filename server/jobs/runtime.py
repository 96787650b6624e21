"""The background work of a process: the scheduler and the push delivery queue, as two asyncio tasks.

`fieldpace serve` starts it inside the web process unless FIELDPACE_SCHEDULER is off; `fieldpace worker`
runs only this. Any number of processes may run it at once: slots and pushes are claimed in the database.
"""

from __future__ import annotations

import asyncio
import contextlib

from server.jobs.services import Scheduler
from server.settings import Settings


class Background:
    def __init__(self, settings: Settings):
        from server.notifications.push import Sender, check_subject

        check_subject(settings.vapid_subject)
        self.scheduler = Scheduler(settings)
        self.sender = Sender(settings)
        self.tasks: list[asyncio.Task] = []

    def start(self) -> Background:
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self.scheduler.run_forever(), name="fieldpace-scheduler"),
                      loop.create_task(self.sender.run_forever(), name="fieldpace-push")]
        return self

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.scheduler.drain()
        await self.sender.close()

    async def run(self) -> None:
        """Run until cancelled (the worker's main)."""
        self.start()
        try:
            await asyncio.gather(*self.tasks)
        finally:
            await self.stop()
