"""The planfeed client for integrators: batch pushes, plan exports and API v2 feeds.

```python
from planfeed.client import Client, ProgressRow

with Client("https://planfeed.example", api_key="pfk_live_…") as client:
    result = client.push_progress("updates.csv")          # waits; raises BatchRejected
    for item in client.export_plan("a0e2ce03-…"):         # every page, typed items
        print(item.sequence_id, item.name, item.status_name)
```

See ``docs/client.md``.
"""

from planfeed.client._async import AsyncClient, AsyncFeed
from planfeed.client._core import PollPolicy, RetryPolicy
from planfeed.client._sync import Client, Feed
from planfeed.client.errors import (
    ApiError,
    AuthenticationError,
    BatchRejected,
    ConfigurationError,
    ConflictError,
    ConnectionFailed,
    EnvironmentMismatch,
    JobFailed,
    NotFoundError,
    PermissionDeniedError,
    PlanfeedError,
    RateLimitedError,
    ServerError,
    ValidationError,
    WaitTimeout,
)
from planfeed.client.filters import Expr, F, Field
from planfeed.client.models import (
    BatchKind,
    Checklist,
    ChecklistEntry,
    Environment,
    ExportPage,
    FieldError,
    JobResult,
    JobState,
    MetricGoal,
    MetricRow,
    PlanItem,
    Principal,
    ProgressRow,
    RowError,
    Tag,
    UpsertResult,
    ValidationReport,
    WhoAmI,
)

__all__ = [
    "ApiError",
    "AsyncClient",
    "AsyncFeed",
    "AuthenticationError",
    "BatchKind",
    "BatchRejected",
    "Checklist",
    "ChecklistEntry",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "ConnectionFailed",
    "Environment",
    "EnvironmentMismatch",
    "ExportPage",
    "Expr",
    "F",
    "Feed",
    "Field",
    "FieldError",
    "JobFailed",
    "JobResult",
    "JobState",
    "MetricGoal",
    "MetricRow",
    "NotFoundError",
    "PermissionDeniedError",
    "PlanItem",
    "PlanfeedError",
    "PollPolicy",
    "Principal",
    "ProgressRow",
    "RateLimitedError",
    "RetryPolicy",
    "RowError",
    "ServerError",
    "Tag",
    "UpsertResult",
    "ValidationError",
    "ValidationReport",
    "WaitTimeout",
    "WhoAmI",
]
