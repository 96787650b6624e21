"""Evaluation: scorecard templates (versioned: dimensions, items, anchored scales), cycles that keep the
template version they started with, rater assignments, ratings, scores with the snapshot of their inputs,
calibration adjustments and the audit log."""

from piccolo.columns import UUID, Boolean, Date, DoublePrecision, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.accounts.tables import Team, User

SOURCES = ("kpi", "process", "manager", "peer", "self")
RATING_SOURCES = ("manager", "peer", "self")
PROCESSES = ("reports_on_time", "visits_located", "visits_per_day", "opportunities_fresh")
CYCLE_KINDS = ("month", "quarter", "year")
CYCLE_STATES = ("open", "rating", "calibration", "published", "acknowledged")
RATER_ROLES = ("manager", "self", "peer")


class ScorecardTemplate(Table, tablename="scorecard_template"):
    """One version of a template. Editing a template makes a new version (same `code`, version + 1);
    cycles point at the exact version they started with. `builtin` marks the shipped templates."""

    id = UUID(primary_key=True)
    code = Varchar(length=40)
    version = Integer(default=1)
    name_zh = Varchar(length=100)
    name_en = Varchar(length=100)
    # Whom it applies to: a role (rep) and, when set, one team only and / or one kind of rep only
    # (`User.rep_kind`; empty: every kind). Opening a cycle gives each rep the most specific one.
    role = Varchar(length=16, default="rep")
    team = ForeignKey(references=Team, null=True, on_delete=OnDelete.set_null)
    rep_kind = Varchar(length=16, default="")
    current = Boolean(default=True)  # the latest version of its code
    builtin = Boolean(default=False)
    created_at = Timestamptz()


class ScorecardDimension(Table, tablename="scorecard_dimension"):
    """A dimension of a template; the dimensions' weights add up to 10,000 basis points."""

    id = UUID(primary_key=True)
    template = ForeignKey(references=ScorecardTemplate, null=False, on_delete=OnDelete.cascade, index=True)
    position = Integer(default=0)
    name_zh = Varchar(length=100)
    name_en = Varchar(length=100)
    weight_bp = Integer(default=0)


class ScorecardItem(Table, tablename="scorecard_item"):
    """An item of a dimension (weights within a dimension add up to 10,000 basis points) and its source:
    a KPI's attainment, a process measure against a norm, or a rating on an anchored scale."""

    id = UUID(primary_key=True)
    dimension = ForeignKey(references=ScorecardDimension, null=False, on_delete=OnDelete.cascade, index=True)
    position = Integer(default=0)
    name_zh = Varchar(length=100)
    name_en = Varchar(length=100)
    weight_bp = Integer(default=0)
    source = Varchar(length=12)
    kpi_code = Varchar(length=40, default="")
    process = Varchar(length=32, default="")
    # Attainment (actual / target, or value / norm) below `floor` scores 0; at `cap` or above it scores 100.
    floor = DoublePrecision(default=0.0)
    cap = DoublePrecision(default=1.0)
    # A lower-is-better KPI: the worst acceptable value, 0 % of the band (None: the KPI's own floor).
    band_worst = DoublePrecision(null=True, default=None)
    # A process measure's norm: the share (0..1) or visits per working day that counts as 100 % attainment.
    norm = DoublePrecision(null=True, default=None)
    # A rating: JSON list of levels, lowest first, each {"zh": ..., "en": ...} describing the behaviour.
    anchors = Text(default="[]")


class EvaluationCycle(Table, tablename="evaluation_cycle"):
    """One evaluation of one team for one period, on one template version (the default: a rep whom a
    team's or a kind's template applies to is evaluated on that one, see EvaluationMember)."""

    id = UUID(primary_key=True)
    template = ForeignKey(references=ScorecardTemplate, null=False, on_delete=OnDelete.restrict, index=True)
    team = ForeignKey(references=Team, null=False, on_delete=OnDelete.restrict, index=True)
    kind = Varchar(length=8)
    period = Varchar(length=10)
    state = Varchar(length=16, default="open")
    # Optional distribution guide, percent of reps in the top / middle / bottom grade, e.g. "20/70/10".
    guide = Varchar(length=20, default="")
    rating_due = Date(null=True, default=None)
    opened_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    opened_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)
    published_at = Timestamptz(null=True, default=None)


class EvaluationMember(Table, tablename="evaluation_member"):
    """A rep a cycle evaluates and the template version they are evaluated on, chosen when the cycle
    opened: `basis` says why ("team": their team's template, "kind": the template for their kind of rep,
    "default": the cycle's template). A cycle without these rows evaluates everyone on its template."""

    id = UUID(primary_key=True)
    cycle = ForeignKey(references=EvaluationCycle, null=False, on_delete=OnDelete.cascade, index=True)
    rep = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict, index=True)
    template = ForeignKey(references=ScorecardTemplate, null=False, on_delete=OnDelete.restrict)
    basis = Varchar(length=8, default="default")


class RaterAssignment(Table, tablename="rater_assignment"):
    """Who rates whom in a cycle: the rep's manager, the rep themself, and peers the manager chose."""

    id = UUID(primary_key=True)
    cycle = ForeignKey(references=EvaluationCycle, null=False, on_delete=OnDelete.cascade, index=True)
    ratee = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict, index=True)
    rater = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict, index=True)
    role = Varchar(length=8)
    submitted_at = Timestamptz(null=True, default=None)


class Rating(Table, tablename="evaluation_rating"):
    """One answer of one assignment for one rating item: a level and a comment."""

    id = UUID(primary_key=True)
    assignment = ForeignKey(references=RaterAssignment, null=False, on_delete=OnDelete.cascade, index=True)
    item = ForeignKey(references=ScorecardItem, null=False, on_delete=OnDelete.restrict)
    level = Integer()
    comment = Text(default="")
    updated_at = Timestamptz()


class Score(Table, tablename="evaluation_score"):
    """A rep's score in a cycle: provisional while the cycle is open, final (frozen) from its close.
    `snapshot` (JSON) holds every input it used; `calibrated` is the score after calibration."""

    id = UUID(primary_key=True)
    cycle = ForeignKey(references=EvaluationCycle, null=False, on_delete=OnDelete.cascade, index=True)
    rep = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict, index=True)
    final = Boolean(default=False)
    total = DoublePrecision(null=True, default=None)
    calibrated = DoublePrecision(null=True, default=None)
    formula_version = Varchar(length=8, default="1")
    snapshot = Text(default="{}")
    computed_at = Timestamptz()
    acknowledged_at = Timestamptz(null=True, default=None)
    reply = Text(default="")


class CalibrationAdjustment(Table, tablename="calibration_adjustment"):
    id = UUID(primary_key=True)
    score = ForeignKey(references=Score, null=False, on_delete=OnDelete.cascade, index=True)
    adjusted_by = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    before = DoublePrecision(null=True, default=None)
    after = DoublePrecision()
    reason = Text()
    at = Timestamptz()


class EvaluationAudit(Table, tablename="evaluation_audit"):
    """What happened to a cycle or a score, by whom: opened, state changes, re-opened with a reason,
    calibrated, acknowledged. `detail` is JSON; a peer's identity is never written here."""

    id = UUID(primary_key=True)
    cycle = ForeignKey(references=EvaluationCycle, null=True, on_delete=OnDelete.cascade, index=True)
    score = ForeignKey(references=Score, null=True, on_delete=OnDelete.cascade)
    actor = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    action = Varchar(length=24)
    detail = Text(default="{}")
    at = Timestamptz()


class PeerNomination(Table, tablename="peer_nomination"):
    """A peer the rep proposed for their own cycle while it is open. The manager approves the rep's list
    (it becomes the rep's peers) or replaces it with their own choice; `decision` says which."""

    id = UUID(primary_key=True)
    cycle = ForeignKey(references=EvaluationCycle, null=False, on_delete=OnDelete.cascade, index=True)
    ratee = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict, index=True)
    peer = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    nominated_at = Timestamptz()
    decision = Varchar(length=10, default="")  # "", "approved" or "replaced"
