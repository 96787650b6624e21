"""Team membership over time: which team a rep belonged to on a date, and moves with an effective date.

A move closes the rep's open membership the day before it takes effect and opens one in the new team, so
results dated before the move stay with the old team on every board, trend, drill-down and CSV.
`team_on_sql()` is the one definition of "the team of this record's rep on this record's date", in SQL:
every team-level figure joins through it. A rep with no membership rows (users written directly, as the
demo generator and tests do) belongs to `User.team` on every date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID, uuid4

from litestar.exceptions import NotFoundException

from server import clock, db, validation
from server.accounts.permissions import Actor, require_role
from server.accounts.tables import Team, TeamMembership, User
from server.i18n import _
from server.web import FieldErrors

# A rep's first membership starts here: before any record (the migration gives existing users the same).
FAR_PAST = date(1970, 1, 1)
FAR_PAST_AT = datetime(1969, 12, 31, tzinfo=UTC)

# The team expression `team_on_sql` returns refers to these aliases.
_M, _U = "tm", "tu"


def team_on_sql(rep_column: str, day_column: str) -> tuple[str, str]:
    """(joins to append to a FROM, SQL of the team id) of the team `rep_column`'s rep belonged to on the
    record's day. `day_column` is a date column, or "@column" for a timestamp (compared with the
    membership's company-time-zone midnights). NULL: no team on that day."""
    if day_column.startswith("@"):
        column = day_column[1:]
        cover = f"{_M}.starts_at <= {column} AND ({_M}.ends_at IS NULL OR {column} < {_M}.ends_at)"
    else:
        cover = f"{_M}.valid_from <= {day_column} AND ({_M}.valid_to IS NULL OR {day_column} < {_M}.valid_to)"
    joins = (f" LEFT JOIN team_membership {_M} ON {_M}.rep = {rep_column} AND {cover}"
             f" JOIN app_user {_U} ON {_U}.id = {rep_column}")
    return joins, f"(CASE WHEN {_M}.id IS NULL THEN {_U}.team ELSE {_M}.team END)"


# With `team_on_sql`'s joins: the record's user is a rep (team figures count reps, as the boards do).
IS_REP = f"{_U}.role = 'rep'"


def team_in_sql(expression: str, team_ids: list[UUID], args: list) -> str:
    """A condition: the team `expression` is one of `team_ids` (none: no row); appends the arguments."""
    if not team_ids:
        return "1 = 0"
    args.extend(team_ids)
    return f"{expression} IN ({', '.join('{}' for _t in team_ids)})"


def ever_in_sql(rep_column: str, team_ids: list[UUID], args: list) -> str:
    """A condition narrowing `rep_column` to the reps who were ever in one of `team_ids` (a membership row,
    or `User.team`): an indexed pre-filter before `team_on_sql` decides by the record's date."""
    if not team_ids:
        return "1 = 0"
    marks = ", ".join("{}" for _t in team_ids)
    args.extend([*team_ids, *team_ids])
    return (f"({rep_column} IN (SELECT em.rep FROM team_membership em WHERE em.team IN ({marks}))"
            f" OR {rep_column} IN (SELECT eu.id FROM app_user eu WHERE eu.team IN ({marks})))")


def midnight(day: date) -> datetime:
    """The company-time-zone start of `day`, in UTC."""
    return datetime.combine(day, time.min, clock.company_tz()).astimezone(UTC)


async def teams_between(start: date, end: date) -> list[dict]:
    """Every rep's team(s) from `start` to `end`: rows of rep, team (None: no team), valid_from, valid_to
    (exclusive, None: open), one per stretch that overlaps the range (reps without membership rows: their
    `User.team` over the whole range). One query."""
    rows = await User.raw(
        f"SELECT u.id AS rep, CASE WHEN {_M}.id IS NULL THEN u.team ELSE {_M}.team END AS team,"
        f" {_M}.valid_from AS valid_from, {_M}.valid_to AS valid_to"
        f" FROM app_user u LEFT JOIN team_membership {_M} ON {_M}.rep = u.id"
        f" WHERE u.role = 'rep' AND ({_M}.id IS NULL OR ({_M}.valid_from <= {{}}"
        f" AND ({_M}.valid_to IS NULL OR {_M}.valid_to > {{}})))",
        end, start,
    )
    for r in rows:
        r["rep"] = db.as_uuid(r["rep"])
        r["team"] = db.as_uuid(r["team"])
        r["valid_from"] = db.as_date(r["valid_from"]) if r["valid_from"] is not None else None
        r["valid_to"] = db.as_date(r["valid_to"]) if r["valid_to"] is not None else None
    return rows


def team_on(stretches: list[dict], day: date) -> dict[UUID, UUID | None]:
    """rep -> their team on `day`, from `teams_between`'s rows (reps without a stretch that day: absent)."""
    out: dict[UUID, UUID | None] = {}
    for r in stretches:
        starts, ends = r["valid_from"], r["valid_to"]
        if (starts is None or starts <= day) and (ends is None or day < ends):
            out[r["rep"]] = r["team"]
    return out


def month_teams(stretches: list[dict], year: int, month: int) -> dict[UUID, UUID | None]:
    """rep -> the team a month of a plan is theirs in, from `teams_between`'s rows: the team they were in on
    the month's first day; a rep without a team that day (they joined during the month), the team they
    are in on its last day. One team per rep and month, so a plan's month adds up in exactly one team:
    `targets.splits.member_months` gives targets and the plan check (`targets.org.mismatches`) groups
    reps by it."""
    first = date(year, month, 1)
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    out = team_on(stretches, last)
    out.update({rep: team for rep, team in team_on(stretches, first).items() if team is not None})
    return out


async def teams_by_month(year: int) -> dict[str, dict[UUID, UUID | None]]:
    """"YYYY-MM" -> `month_teams` of every month of `year` (one query)."""
    stretches = await teams_between(date(year, 1, 1), date(year, 12, 31))
    return {f"{year:04d}-{m:02d}": month_teams(stretches, year, m) for m in range(1, 13)}


async def history(actor: Actor, user_id: UUID) -> list[dict]:
    """A user's memberships, oldest first, with the team's name and `last_day` (the day before
    `valid_to`; None while open) (admin)."""
    require_role(actor, "admin")
    rows = await TeamMembership.select(
        TeamMembership.id, TeamMembership.team, TeamMembership.team.name.as_alias("team_name"),
        TeamMembership.valid_from, TeamMembership.valid_to,
    ).where(TeamMembership.rep == user_id).order_by(TeamMembership.valid_from)
    for r in rows:
        r["valid_from"] = db.as_date(r["valid_from"])
        ends = db.as_date(r["valid_to"])
        r["last_day"] = ends - timedelta(days=1) if ends else None
    return rows


async def start(user_id: UUID, team_id: UUID | None, created_by: UUID | None) -> None:
    """A new user's first membership, from FAR_PAST (whatever is imported for them later is theirs)."""
    await TeamMembership.insert(TeamMembership(
        id=uuid4(), rep=user_id, team=team_id, valid_from=FAR_PAST, valid_to=None, starts_at=FAR_PAST_AT,
        ends_at=None, created_by=created_by, created_at=clock.now()))


def parse_move(data: dict) -> tuple[UUID | None, date]:
    """The team (empty: no team) and effective date of a move form; FieldErrors when malformed. A move
    takes effect today at the latest: a future date would need the current team to change by itself."""
    errors: dict[str, str] = {}
    raw = (data.get("team") or "").strip()
    team_id = validation.optional_uuid(raw) if raw else None
    if raw and team_id is None:
        errors["team"] = _("Choose a team.")
    effective = validation.day(data, "effective", errors, required=True, earliest=FAR_PAST, latest=clock.today())
    if errors or effective is None:
        raise FieldErrors(errors or {"effective": _("This field is required.")})
    return team_id, effective


async def move(actor: Actor | None, user_id: UUID, team_id: UUID | None, effective: date) -> None:
    """Move a user to `team_id` (None: no team) from `effective` on (admin; None: the command line).
    Results dated before `effective` stay with the earlier team. FieldErrors for an unknown team, the
    team they are in already, or a date before their last move (that would rewrite an earlier move)."""
    if actor is not None:
        require_role(actor, "admin")
    if team_id is not None and not await Team.exists().where(Team.id == team_id):
        raise FieldErrors({"team": _("Choose a team.")})
    now = clock.now()
    async with db.write_transaction():
        await db.lock_row("app_user", user_id)
        user = await User.select(User.team).where(User.id == user_id).first()
        if user is None:
            raise NotFoundException()
        rows = await TeamMembership.select(TeamMembership.id, TeamMembership.team, TeamMembership.valid_from).where(
            (TeamMembership.rep == user_id) & TeamMembership.valid_to.is_null())
        if not rows:
            await start(user_id, user["team"], actor.id if actor else None)
            rows = [{"id": None, "team": user["team"], "valid_from": FAR_PAST}]
        current = rows[0]
        since = db.as_date(current["valid_from"]) or FAR_PAST
        if current["team"] == team_id:
            raise FieldErrors({"team": _("Already in this team since %(date)s.", date=since.isoformat())})
        if effective < since:
            raise FieldErrors({"effective": _("A move cannot take effect before the last one (%(date)s).",
                                              date=since.isoformat())})
        open_row = TeamMembership.rep == user_id
        if effective == since:
            # Moved again on the day of the last move: that day's team is the new one.
            await TeamMembership.update({TeamMembership.team: team_id}).where(
                open_row & TeamMembership.valid_to.is_null())
        else:
            await TeamMembership.update({TeamMembership.valid_to: effective, TeamMembership.ends_at: midnight(effective)}
                                        ).where(open_row & TeamMembership.valid_to.is_null())
            await TeamMembership.insert(TeamMembership(
                id=uuid4(), rep=user_id, team=team_id, valid_from=effective, valid_to=None,
                starts_at=midnight(effective), ends_at=None, created_by=actor.id if actor else None, created_at=now))
        await User.update({User.team: team_id}).where(User.id == user_id)
