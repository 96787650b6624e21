"""Users, teams and who leads which team."""

from piccolo.columns import UUID, Boolean, Date, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

ROLES = ("rep", "manager", "admin")
# What kind of rep: a field rep (many customers, visits) or a key account rep (few large customers). The
# scorecard a rep is evaluated on may depend on it (evaluation: a template applies to a kind).
REP_KINDS = ("field", "key_account")


class Team(Table, tablename="team"):
    id = UUID(primary_key=True)
    name = Varchar(length=100, unique=True)
    created_at = Timestamptz()
    # A region over teams: the team this one sits under (None: directly under the company). A manager of a
    # team leads every team below it too (`hierarchy.with_descendants`).
    parent: ForeignKey = ForeignKey(references="self", null=True, on_delete=OnDelete.set_null, index=True)


class User(Table, tablename="app_user"):
    id = UUID(primary_key=True)
    username = Varchar(length=64, unique=True)
    display_name = Varchar(length=100)
    password_hash = Varchar(length=255)
    role = Varchar(length=16, default="rep")
    # A rep belongs to one team; managers lead teams through TeamManager.
    team = ForeignKey(references=Team, null=True, on_delete=OnDelete.set_null, index=True)
    active = Boolean(default=True)
    # The rep's code in the ERP (业务员编码), set by an admin: ERP imports match 业务员 by it, the username or the name.
    erp_code = Varchar(length=64, default="")
    rep_kind = Varchar(length=16, default="field")  # one of REP_KINDS, set by an admin
    # Empty means: follow the browser's Accept-Language.
    locale = Varchar(length=8, default="")
    created_at = Timestamptz()
    # Sessions are signed cookies; each carries the epoch it was made in. Bumping it (a password change
    # or reset) ends every session of the user at their next request, wherever the cookie is.
    session_epoch = Integer(default=0)


class TeamManager(Table, tablename="team_manager"):
    """A manager leads a team; a manager can lead several teams and a team can have co-leads."""

    id = UUID(primary_key=True)
    team = ForeignKey(references=Team, null=False, on_delete=OnDelete.cascade, index=True)
    manager = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)


class TeamMembership(Table, tablename="team_membership"):
    """Which team a rep belonged to from `valid_from` until the day before `valid_to` (open: still).

    A rep's rows never overlap; `team` NULL is a stretch without a team. `starts_at` / `ends_at` are the
    same days as company-time-zone midnights in UTC, for records dated by a timestamp (new customers).
    A rep with no rows at all belongs to `User.team` on every date (users made before this table, or
    written directly). Every team-level figure attributes a record through `membership.team_on_sql`."""

    id = UUID(primary_key=True)
    rep = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict, index=True)
    team = ForeignKey(references=Team, null=True, on_delete=OnDelete.set_null)
    valid_from = Date()
    valid_to = Date(null=True, default=None)  # exclusive
    starts_at = Timestamptz()
    ends_at = Timestamptz(null=True, default=None)
    created_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()


class UserSession(Table, tablename="user_session"):
    """One sign-in. The cookie carries a random token; the row is keyed by its SHA-256, so a copy of the
    database cannot be replayed as a cookie. Signing out, deactivation and expiry end it here, on the server."""

    id = Varchar(length=64, primary_key=True)
    user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    # The user's session_epoch when the session began (or was renewed by a password change).
    epoch = Integer(default=0)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    # Written at most every few minutes, so a page view rarely costs a write.
    last_seen_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class LoginFailure(Table, tablename="login_failure"):
    """A failed sign-in, counted per username ("u:name") and per client address ("c:addr") in the rate-limit
    window. A table, so every server process counts the same failures."""

    id = UUID(primary_key=True)
    key = Varchar(length=200)
    failed_at = Timestamptz()
