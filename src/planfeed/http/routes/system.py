"""Health, readiness and the first protected route, ``/api/whoami``."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from planfeed.db.migrate import SchemaNotCurrent, check_current
from planfeed.http.deps import CurrentPrincipal, StateDep
from planfeed.http.responses import OrjsonResponse

router = APIRouter()


class Health(BaseModel):
    status: str


class WhoAmI(BaseModel):
    organisation: str
    environment: str
    user: str
    role: str
    credential: str


@router.get("/healthz", response_model=Health, tags=["system"])
def healthz() -> Health:
    """Answers while the process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    tags=["system"],
    responses={503: {"description": "database unreachable or migrations not at head"}},
)
def readyz(state: StateDep) -> Health | OrjsonResponse:
    """Answers 200 when the database is reachable and the schema is at the head migration."""
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        check_current(state.engine)
    except SchemaNotCurrent as exc:
        return OrjsonResponse({"status": "not ready", "reason": str(exc)}, status_code=503)
    except Exception as exc:
        return OrjsonResponse(
            {"status": "not ready", "reason": f"database unreachable: {type(exc).__name__}"},
            status_code=503,
        )
    return Health(status="ready")


@router.get("/api/whoami", response_model=WhoAmI, tags=["system"])
def whoami(principal: CurrentPrincipal) -> WhoAmI:
    """The caller's organisation, environment, user and role."""
    return WhoAmI(
        organisation=principal.organisation_name,
        environment=principal.environment.value,
        user=principal.login,
        role=principal.role,
        credential=principal.credential_kind,
    )
