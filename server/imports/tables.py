"""CSV imports: the uploaded file (decoded), its preview and the progress of the import."""

from piccolo.columns import UUID, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.accounts.tables import User

IMPORT_KINDS = ("customers", "orders", "collections")
IMPORT_STATUSES = ("previewed", "running", "done", "failed")


class ImportBatch(Table, tablename="import_batch"):
    id = UUID(primary_key=True)
    kind = Varchar(length=16)
    filename = Varchar(length=200, default="")
    sha256 = Varchar(length=64, index=True)
    encoding = Varchar(length=16, default="")
    content = Text()  # the file, decoded to text
    status = Varchar(length=12, default="previewed")
    total_rows = Integer(default=0)
    processed_rows = Integer(default=0)
    error_rows = Integer(default=0)
    created_count = Integer(default=0)
    updated_count = Integer(default=0)
    unchanged_count = Integer(default=0)
    error = Text(default="")
    created_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
