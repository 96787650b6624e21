"""Results data: opportunities and their stage history, orders (won deals) split among reps, collections.

Money is stored in cents (integers), so sums are exact on both engines. An order's splits give each rep
a share in basis points (10000 = 100 %); every place that counts a rep's result multiplies by it.
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


class OrderSplit(Table, tablename="order_split"):
    """A rep's share of an order. An order's shares sum to FULL_SHARE."""

    id = UUID(primary_key=True)
    sales_order = ForeignKey(references=Order, null=False, on_delete=OnDelete.cascade, index=True)
    rep = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    share_bp = Integer()
    # Copy of the order's date, so a rep's results for a period read one index (rep, order_date).
    order_date = Date()


class Collection(Table, tablename="collection"):
    """Money received against an order (回款). Credited to reps by the order's split."""

    id = UUID(primary_key=True)
    number = Varchar(length=64, unique=True)  # natural key: receipt number
    sales_order = ForeignKey(references=Order, null=False, on_delete=OnDelete.restrict, index=True)
    received_on = Date()
    amount_cents = BigInt()
    source = Varchar(length=16, default="manual")
    created_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
