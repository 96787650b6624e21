"""Team membership: every user's current team becomes a membership from far in the past (so every record
stays with the team it is attributed to today), and the index the date join reads."""

from datetime import UTC, date, datetime
from uuid import uuid4

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.querystring import QueryString

ID = "2026-12-02T07:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Team membership: current teams from far in the past; (rep, valid_from) index"

FAR_PAST = date(1970, 1, 1)
# Before the company-time-zone midnight of FAR_PAST in any time zone; no record is that old.
FAR_PAST_AT = datetime(1969, 12, 31, tzinfo=UTC)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        now = datetime.now(UTC)
        users = await engine.run_querystring(QueryString(
            "SELECT id, team FROM app_user WHERE team IS NOT NULL AND id NOT IN (SELECT rep FROM team_membership)"))
        for user in users:
            await engine.run_querystring(QueryString(
                "INSERT INTO team_membership (id, rep, team, valid_from, valid_to, starts_at, ends_at, created_by,"
                " created_at) VALUES ({}, {}, {}, {}, NULL, {}, NULL, NULL, {})",
                uuid4(), user["id"], user["team"], FAR_PAST, FAR_PAST_AT, now))
        await engine.run_ddl("CREATE INDEX team_membership_rep_from ON team_membership (rep, valid_from)")

    manager.add_raw(run)
    return manager
