"""The visits' nightly job: photos that no visit will ever show are deleted after a grace period."""

from __future__ import annotations

from datetime import timedelta

from server.jobs.registry import JobContext
from server.visits import photos


async def cleanup_photos(ctx: JobContext) -> dict[str, int]:
    """Orphan photos (their visit never arrived) and stray files, older than FIELDPACE_PHOTO_ORPHAN_DAYS."""
    cutoff = ctx.slot - timedelta(days=ctx.settings.photo_orphan_days)
    return await photos.sweep_orphans(ctx.settings.effective_photo_dir, cutoff)
