"""Results data: opportunities and their stage history, orders (won deals) split among reps, collections.

Money is stored in cents (integers), so sums are exact on both engines. An order's splits give each rep
a share in basis points (10000 = 100 %) and the cents that share comes to, allocated once by largest
remainder (`server/sales/money.py`) and stored: every total sums stored cents, never amount x share.
Returns, credit notes and collection corrections are rows of their own, dated when they happened, with
their credits per rep stored the same way; a voided order stays, marked, and is counted nowhere.
"""

from piccolo.columns import UUID, BigInt, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.accounts.tables import User
from server.customers.tables import Customer

STAGES = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
OPEN_STAGES = ("lead", "qualified", "proposal", "negotiation")
CLOSED_STAGES = ("won", "lost")
FULL_SHARE = 10_000


class Opportunity(Table, tablename="opportunity"):
    id = UUID(primary_key=True)
    name = Varchar(length=200)
    customer = ForeignKey(references=Customer, null=False, on_delete=OnDelete.restrict, index=True)
    # The rep who works the deal (conversion rate counts by owner).
    owner = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    stage = Varchar(length=16, default="lead")
    amount_cents = BigInt(default=0)  # expected value
    expected_close = Date(null=True, default=None)
    stage_changed_at = Timestamptz()
    # Company-time-zone day it was won or lost; None while open.
    closed_on = Date(null=True, default=None)
    created_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class OpportunityStage(Table, tablename="opportunity_stage"):
    """One row per stage change (the first row has from_stage ""): the funnel's time in stage."""

    id = UUID(primary_key=True)
    opportunity = ForeignKey(references=Opportunity, null=False, on_delete=OnDelete.cascade, index=True)
    from_stage = Varchar(length=16, default="")
    to_stage = Varchar(length=16)
    changed_at = Timestamptz()
    changed_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)


class Order(Table, tablename="sales_order"):
    id = UUID(primary_key=True)
    # Natural key: the ERP's order number (imports match on it); orders typed in get one generated.
    number = Varchar(length=64, unique=True)
    customer = ForeignKey(references=Customer, null=False, on_delete=OnDelete.restrict, index=True)
    opportunity = ForeignKey(references=Opportunity, null=True, on_delete=OnDelete.set_null)
    order_date = Date()
    # When payment is due (collections ageing); None means due on the order date.
    due_date = Date(null=True, default=None)
    amount_cents = BigInt()
    cost_cents = BigInt(default=0)
    note = Text(default="")
    source = Varchar(length=16, default="manual")  # manual | import
    created_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # A voided order is kept (struck through on its page) and counted nowhere.
    voided_at = Timestamptz(null=True, default=None)
    voided_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    void_reason = Text(default="")


class OrderSplit(Table, tablename="order_split"):
    """A rep's share of an order. An order's shares sum to FULL_SHARE."""

    id = UUID(primary_key=True)
    sales_order = ForeignKey(references=Order, null=False, on_delete=OnDelete.cascade, index=True)
    rep = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    share_bp = Integer()
    # Copy of the order's date, so a rep's results for a period read one index (rep, order_date).
    order_date = Date()
    # The rep's credit in cents: the order's amount and margin allocated over its split by largest
    # remainder, so an order's credits add up to it exactly.
    amount_cents = BigInt(default=0)
    margin_cents = BigInt(default=0)


class Collection(Table, tablename="collection"):
    """Money received against an order (回款). Credited to reps by the order's split (`CollectionSplit`).

    A correction or reversal is a collection row of its own (kind `correction`), dated the day it was made,
    holding the difference (negative for less received) and the receipt it corrects: the period the
    receipt was counted in stays as it was."""

    id = UUID(primary_key=True)
    number = Varchar(length=64, unique=True)  # natural key: receipt number
    sales_order = ForeignKey(references=Order, null=False, on_delete=OnDelete.restrict, index=True)
    received_on = Date()
    amount_cents = BigInt()
    source = Varchar(length=16, default="manual")
    created_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    kind = Varchar(length=16, default="receipt")  # receipt | correction
    corrects = UUID(null=True, default=None)  # the receipt a correction changes
    reason = Text(default="")


class CollectionSplit(Table, tablename="collection_split"):
    """A rep's credit of a collection in cents (largest remainder over the order's split)."""

    id = UUID(primary_key=True)
    collection = ForeignKey(references=Collection, null=False, on_delete=OnDelete.cascade, index=True)
    sales_order = ForeignKey(references=Order, null=False, on_delete=OnDelete.cascade, index=True)
    rep = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    received_on = Date()
    amount_cents = BigInt()


class OrderReturn(Table, tablename="order_return"):
    """A return or credit note (红字) against an order, counted in its own period (`return_date`).
    Amounts are positive: what the return takes off the order's revenue and margin."""

    id = UUID(primary_key=True)
    # Natural key: the credit note's number; an import's external reference makes a re-import a no-op.
    number = Varchar(length=64, unique=True)
    sales_order = ForeignKey(references=Order, null=False, on_delete=OnDelete.restrict, index=True)
    kind = Varchar(length=16, default="return")  # return | credit_note
    return_date = Date()
    amount_cents = BigInt()
    margin_cents = BigInt(default=0)
    reason = Text(default="")
    source = Varchar(length=16, default="manual")  # manual | import
    created_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()


class ReturnSplit(Table, tablename="order_return_split"):
    """A rep's share of a return, in cents and negative (it reduces their results), allocated over the
    order's split by largest remainder."""

    id = UUID(primary_key=True)
    order_return = ForeignKey(references=OrderReturn, null=False, on_delete=OnDelete.cascade, index=True)
    sales_order = ForeignKey(references=Order, null=False, on_delete=OnDelete.cascade, index=True)
    rep = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    share_bp = Integer()
    return_date = Date()
    amount_cents = BigInt()
    margin_cents = BigInt()


class AuditEvent(Table, tablename="audit_event"):
    """One row per change to results data: an order corrected or voided, a return recorded, a collection
    corrected or reversed. `detail` is JSON (what changed, amounts in cents); `effective_on` is the day the
    change counts in."""

    id = UUID(primary_key=True)
    subject_kind = Varchar(length=24)  # order | order_return | collection
    subject_id = UUID()
    sales_order = UUID(null=True, default=None, index=True)
    action = Varchar(length=32)
    reason = Text(default="")
    detail = Text(default="{}")
    effective_on = Date(null=True, default=None)
    actor = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    at = Timestamptz()
