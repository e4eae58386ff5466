"""A course-date-like field set shared by the feeds query tests."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
)

from planfeed.db.base import UTCDateTime
from planfeed.feeds import FieldSpec, FieldType, field_lookup

COURSE_ID = FieldSpec("CourseID", FieldType.STRING, nullable=False)
LABEL = FieldSpec("Label", FieldType.STRING)
STATUS = FieldSpec("Status", FieldType.STRING)
EMAIL = FieldSpec("Email", FieldType.STRING)
START_DATE = FieldSpec("StartDate", FieldType.DATETIME)
DAY = FieldSpec("Day", FieldType.DATE)
SPACES_LEFT = FieldSpec("SpacesLeft", FieldType.INTEGER)
PRICE = FieldSpec("Price", FieldType.DECIMAL)
ACTIVE = FieldSpec("Active", FieldType.BOOLEAN)
REGION = FieldSpec("CF_Region", FieldType.STRING)
NOTES = FieldSpec("Notes", FieldType.STRING, filterable=False, sortable=False)
SCORE = FieldSpec("Score", FieldType.DECIMAL, sortable=False)

SPECS = (
    COURSE_ID,
    LABEL,
    STATUS,
    EMAIL,
    START_DATE,
    DAY,
    SPACES_LEFT,
    PRICE,
    ACTIVE,
    REGION,
    NOTES,
    SCORE,
)
FIELDS = field_lookup(SPECS)

# A throwaway table holding these fields, in a MetaData of its own (planfeed's migrations and
# db.clean() never see it): the DB tests create it at start and drop it at the end.

PROBE_METADATA = MetaData()
PROBE = Table(
    "feeds_query_probe",
    PROBE_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("course_id", String(50), nullable=False),
    Column("label", String(200)),
    Column("status", String(20)),
    Column("email", String(200)),
    Column("start_date", UTCDateTime()),
    Column("day", Date),
    Column("spaces_left", Integer),
    Column("price", Numeric(12, 2)),
    Column("active", Boolean),
    Column("notes", String(200)),
    Column("score", Float),
    Column("custom_fields", JSON),
)
COLUMNS = {
    "CourseID": PROBE.c.course_id,
    "Label": PROBE.c.label,
    "Status": PROBE.c.status,
    "Email": PROBE.c.email,
    "StartDate": PROBE.c.start_date,
    "Day": PROBE.c.day,
    "SpacesLeft": PROBE.c.spaces_left,
    "Price": PROBE.c.price,
    "Active": PROBE.c.active,
    "CF_Region": PROBE.c.custom_fields["Region"].as_string(),
    "Notes": PROBE.c.notes,
    "Score": PROBE.c.score,
}
#: row attribute per field, for the Python reference semantics
ATTRIBUTES = {
    "CourseID": "course_id",
    "Label": "label",
    "Status": "status",
    "Email": "email",
    "StartDate": "start_date",
    "Day": "day",
    "SpacesLeft": "spaces_left",
    "Price": "price",
    "Active": "active",
    "CF_Region": "region",
    "Notes": "notes",
    "Score": "score",
}
