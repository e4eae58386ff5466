"""Imports every model module so ``Base.metadata`` is complete (for Alembic and tests)."""

from planfeed.accounts import models as accounts_models
from planfeed.audit import models as audit_models
from planfeed.custom_fields import models as custom_field_models
from planfeed.db.base import Base
from planfeed.jobs import models as jobs_models
from planfeed.plans import models as plans_models
from planfeed.training import models as training_models
from planfeed.web import models as web_models

__all__ = [
    "Base",
    "accounts_models",
    "audit_models",
    "custom_field_models",
    "jobs_models",
    "plans_models",
    "training_models",
    "web_models",
]
