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
    # The column mapping the file is read with (parsing.Mapping as JSON; empty: the headers' known names)
    # and the source it was saved under or taken from.
    mapping = Text(default="")
    source_name = Varchar(length=100, default="")
    skipped_count = Integer(default=0)  # total rows (合计) skipped


class ImportSource(Table, tablename="import_source"):
    """A named ERP export ("K/3 销售出库") and the column mapping its files are read with: saved once in a
    preview, applied to the next file of the kind whose headers are the same (`headers`)."""

    id = UUID(primary_key=True)
    kind = Varchar(length=16)
    name = Varchar(length=100)
    mapping = Text()  # parsing.Mapping as JSON
    headers = Text(default="")  # parsing.header_signature of the file it was saved from
    updated_at = Timestamptz()
