"""The pages: sign-in and out, the environment switch, plans, plan items and batch jobs.

Every page takes the caller from the session cookie (:mod:`planfeed.web.common`), reads through a
session bound to the caller's scope, and asks :mod:`planfeed.auth.permissions` what is allowed,
exactly as the API routes do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from planfeed.accounts.credentials import verify_password
from planfeed.accounts.models import User
from planfeed.accounts.service import (
    WRONG_CREDENTIALS,
    AmbiguousLogin,
    LoginRejected,
    authenticate_password,
    get_organisation,
    organisation_for_login,
)
from planfeed.auth.permissions import (
    Action,
    PermissionDenied,
    PlanRole,
    plan_role,
    require,
    viewable_plan_ids,
)
from planfeed.auth.platform import platform_from_host
from planfeed.auth.principal import Principal
from planfeed.db.base import Environment, Tenant
from planfeed.db.scope import Scope
from planfeed.http.deps import request_host
from planfeed.http.errors import error_response
from planfeed.http.routes.feeds_token import login_policy
from planfeed.ingest import BatchKind, parse_row
from planfeed.ingest.parse import AS_OF, COMMENT, EXTERNAL_ID, METRIC_VALUE, STATUS
from planfeed.jobs.apply import apply_single_update
from planfeed.jobs.models import Job, JobState
from planfeed.plans.export import external_ids_csv
from planfeed.plans.history import metric_series
from planfeed.plans.models import Plan, PlanItem, PlanLevel, UpdateSource
from planfeed.plans.overview import (
    ItemFilter,
    item_detail,
    plan_assignees,
    plan_cards,
    plan_rows,
    unit_symbol,
)
from planfeed.plans.statuses import STATUS_LABELS, Status
from planfeed.web import admin
from planfeed.web.chart import metric_chart, progress_bar
from planfeed.web.common import (
    WEB_DIR,
    CheckedForm,
    CsrfRejected,
    PageNotFound,
    PagePrincipal,
    PageSession,
    SignInRequired,
    cookie_secure,
    field,
    render,
    see_other,
    sign_in_redirect,
    state_of,
)
from planfeed.web.sessions import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    counterpart_user,
    end_session,
    new_secret,
    same_token,
    start_session,
)

ASSETS_PREFIX = "/assets"
RUNNING_STATES = frozenset({JobState.QUEUED.value, JobState.RUNNING.value})
JOB_REFRESH_SECONDS = 3

router = APIRouter(include_in_schema=False)


# --- signing in and out ------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or a full URL) may follow the sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/plans"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/plans"
    return target


def _set_session_cookie(request: Request, response: Response, secret: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=state_of(request).settings.web_session_seconds,
        httponly=True,
        secure=cookie_secure(request),
        samesite="lax",
        path="/",
    )


def _signin_page(
    request: Request,
    *,
    error: str | None = None,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    next_path: str = "/plans",
) -> HTMLResponse:
    """The sign-in form with a fresh double-submit CSRF token (there is no session yet)."""
    token = new_secret()
    response = render(
        request,
        "signin.html",
        status_code=status_code,
        error=error,
        values=values or {},
        signin_token=token,
        next_path=next_path,
        platform_from_host=platform_from_host(
            request_host(request, state_of(request)), state_of(request).settings.base_domain
        ),
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        secure=cookie_secure(request),
        samesite="strict",
        path="/signin",
    )
    return response


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, next: str | None = None) -> Response:
    return _signin_page(request, next_path=_safe_next(next))


def _find_organisation(
    request: Request, platform: str, login: str, environment: Environment
) -> Tenant | None:
    """The platform typed in, else the host's subdomain, else the one the login belongs to."""
    state = state_of(request)
    named = platform or platform_from_host(request_host(request, state), state.settings.base_domain)
    with state.reader() as session:
        if named:
            return get_organisation(session, named.lower())
        return organisation_for_login(session, login, environment)


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request) -> Response:
    """Same users, passwords, slowing and lockout as the feeds token endpoint."""
    form = await request.form()
    values = {name: field(form, name) for name in ("login", "platform", "environment", "next")}
    next_path = _safe_next(values["next"])
    given = form.get(CSRF_FIELD)
    if not same_token(
        request.cookies.get(SIGNIN_COOKIE), given if isinstance(given, str) else None
    ):
        return _signin_page(
            request,
            error="The sign-in form had expired or came from another site; please try again.",
            status_code=403,
            values=values,
            next_path=next_path,
        )
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    if not values["login"] or not password:
        return _signin_page(
            request,
            error="Enter your user ID and your password.",
            status_code=400,
            values=values,
            next_path=next_path,
        )
    environment = (
        Environment.SANDBOX if values["environment"] == Environment.SANDBOX else Environment.LIVE
    )
    state = state_of(request)
    try:
        organisation = await anyio.to_thread.run_sync(
            _find_organisation, request, values["platform"], values["login"], environment
        )
    except AmbiguousLogin:
        return _signin_page(
            request,
            error=f"The user ID {values['login']!r} exists on more than one platform: "
            "enter your platform's name.",
            status_code=400,
            values=values,
            next_path=next_path,
        )
    try:
        if organisation is None:  # the same answer, and time, as a wrong password
            await anyio.to_thread.run_sync(verify_password, None, password)
            raise LoginRejected("invalid", WRONG_CREDENTIALS)
        scope = Scope(organisation.id, environment)
        user = await authenticate_password(
            state.writer, scope, values["login"], password, login_policy(state.settings)
        )
    except LoginRejected as exc:
        message = exc.message[0].upper() + exc.message[1:] + "."
        return _signin_page(
            request, error=message, status_code=401, values=values, next_path=next_path
        )
    secret = await anyio.to_thread.run_sync(start_session, state, scope, user.id)
    response = see_other(next_path)
    _set_session_cookie(request, response, secret)
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


@router.post("/signout")
def signout(request: Request, principal: PagePrincipal, form: CheckedForm) -> Response:
    del principal, form
    end_session(state_of(request), request.state.session_secret)
    response = see_other("/signin?signed_out=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/session/environment")
def switch_environment(request: Request, principal: PagePrincipal, form: CheckedForm) -> Response:
    """Sign the same login in to the other environment (users exist per environment)."""
    wanted = field(form, "environment")
    if wanted not in (Environment.LIVE.value, Environment.SANDBOX.value):
        return render(
            request,
            "message.html",
            status_code=400,
            title="Unknown environment",
            message=f"{wanted!r} is not an environment; choose live or sandbox.",
        )
    target = Environment(wanted)
    if target is principal.environment:
        return see_other("/plans")
    state = state_of(request)
    user_id = counterpart_user(state, principal, target)
    if user_id is None:
        return render(
            request,
            "message.html",
            status_code=409,
            title=f"No {target.value} account",
            message=f"There is no active user {principal.login!r} in the {target.value} "
            "environment of this platform. An administrator can create one there, or copy "
            "live into the sandbox with `planfeed sandbox reset`.",
        )
    secret = start_session(state, Scope(principal.organisation_id, target), user_id)
    end_session(state, request.state.session_secret)
    response = see_other("/plans")
    _set_session_cookie(request, response, secret)
    return response


@router.get("/")
def home(request: Request) -> Response:
    return see_other("/plans" if request.cookies.get(SESSION_COOKIE) else "/signin")


# --- plans -------------------------------------------------------------------------------------


def _plan_or_403(
    session: Session, principal: Principal, public_id: str, needed: PlanRole
) -> tuple[Plan, PlanRole]:
    """The plan, or 403 without saying whether it exists (as the export API answers)."""
    plan = session.scalar(select(Plan).where(Plan.public_id == public_id))
    role = plan_role(session, principal, plan.id) if plan is not None else PlanRole.NONE
    if plan is None or role < needed:
        what = "view" if needed is PlanRole.VIEWER else "administer"
        raise PermissionDenied(
            f"user {principal.login!r} may not {what} plan {public_id!r} (or it does not exist)"
        )
    return plan, role


@router.get("/plans", response_class=HTMLResponse)
def plans(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    cards = plan_cards(session, viewable_plan_ids(principal))
    admin_of = {
        card.plan.id
        for card in cards
        if plan_role(session, principal, card.plan.id) >= PlanRole.ADMIN
    }
    return render(request, "plans.html", cards=cards, admin_of=admin_of, statuses=list(Status))


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


@router.get("/plans/{public_id}", response_class=HTMLResponse)
def plan_page(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    public_id: str,
    status: str | None = None,
    level: str | None = None,
    assignee: str | None = None,
) -> Response:
    plan, role = _plan_or_403(session, principal, public_id, PlanRole.VIEWER)
    status_filter = Status.from_label(status) if status else None
    filters = ItemFilter(
        status=status_filter, level_id=_int_or_none(level), assignee_id=_int_or_none(assignee)
    )
    rows = plan_rows(session, plan, filters)
    levels = session.scalars(
        select(PlanLevel).where(PlanLevel.plan_id == plan.id).order_by(PlanLevel.depth)
    ).all()
    bars = {
        row.item.id: progress_bar(
            row.progress,
            f"{row.item.baseline or 0:g} → {row.item.current_value or 0:g} → "
            f"{row.item.target or 0:g} ({(row.progress or 0) * 100:.0f}% of the way to target)",
        )
        for row in rows
    }
    return render(
        request,
        "plan.html",
        plan=plan,
        rows=rows,
        bars=bars,
        levels=levels,
        assignees=plan_assignees(session, plan),
        statuses=list(Status),
        filters=filters,
        filtered=bool(status or level or assignee),
        is_admin=role >= PlanRole.ADMIN,
        unit_symbol=unit_symbol,
    )


@router.get("/plans/{public_id}/external-ids.csv")
def plan_external_ids(principal: PagePrincipal, session: PageSession, public_id: str) -> Response:
    """The "Export External IDs" action, with the API's check (plan administrators only)."""
    plan, _role = _plan_or_403(session, principal, public_id, PlanRole.ADMIN)
    body, filename = external_ids_csv(session, plan)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


# --- plan items --------------------------------------------------------------------------------

_FORM_FIELDS = {STATUS: "status", METRIC_VALUE: "value", AS_OF: "as_of", COMMENT: "comment"}


def _item_or_403(
    session: Session, principal: Principal, public_id: str
) -> tuple[PlanItem, PlanRole]:
    item = session.scalar(select(PlanItem).where(PlanItem.public_id == public_id))
    role = plan_role(session, principal, item.plan_id) if item is not None else PlanRole.NONE
    if item is None or role < PlanRole.VIEWER:
        raise PermissionDenied(
            f"user {principal.login!r} may not view plan item {public_id!r} (or it does not exist)"
        )
    return item, role


def _item_page(
    request: Request,
    session: Session,
    item: PlanItem,
    role: PlanRole,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    saved: bool = False,
) -> HTMLResponse:
    detail = item_detail(session, item)
    chart = metric_chart(
        metric_series([point for point, _author in detail.metric_history]),
        baseline=item.baseline if item.has_metric else None,
        target=item.target if item.has_metric else None,
        title=f"Metric of {item.name} over time",
    )
    row = detail.row
    bar = progress_bar(
        row.progress,
        f"{item.baseline or 0:g} → {item.current_value or 0:g} → {item.target or 0:g} "
        f"({(row.progress or 0) * 100:.0f}% of the way to target)",
    )
    return render(
        request,
        "item.html",
        status_code=status_code,
        item=item,
        detail=detail,
        chart=chart,
        bar=bar,
        can_update=role >= PlanRole.ADMIN,
        status_labels=STATUS_LABELS,
        errors=errors or {},
        values=values
        or {"as_of": dt.date.today().isoformat(), "status": Status(item.status).label},
        saved=saved,
        unit=unit_symbol(item),
    )


@router.get("/items/{public_id}", response_class=HTMLResponse)
def item_page(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    public_id: str,
    saved: str | None = None,
) -> Response:
    item, role = _item_or_403(session, principal, public_id)
    return _item_page(request, session, item, role, saved=saved == "1")


@router.post("/items/{public_id}/updates", response_class=HTMLResponse)
def post_update(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    form: CheckedForm,
    public_id: str,
) -> Response:
    """A progress update typed by hand: the batch row checks, then the batch apply path."""
    item, role = _item_or_403(session, principal, public_id)
    if role < PlanRole.ADMIN:
        raise PermissionDenied(
            f"user {principal.login!r} may not update items of this plan: it needs admin rights"
        )
    values = {name: field(form, name) for name in _FORM_FIELDS.values()}
    result = parse_row(
        BatchKind.PROGRESS,
        {
            EXTERNAL_ID: item.external_id,
            STATUS: values["status"],
            METRIC_VALUE: values["value"],
            AS_OF: values["as_of"],
            COMMENT: values["comment"],
        },
    )
    errors, _new_id = apply_single_update(session, principal, result, UpdateSource.WEB)
    if errors:
        session.rollback()
        by_field: dict[str, str] = {}
        for error in errors:
            name = _FORM_FIELDS.get(error.column or "", "form")
            by_field.setdefault(name, error.message)
        return _item_page(
            request, session, item, role, errors=by_field, values=values, status_code=400
        )
    return see_other(f"/items/{item.public_id}?saved=1#history")


# --- jobs --------------------------------------------------------------------------------------


@router.get("/jobs", response_class=HTMLResponse)
def jobs(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    require(principal, Action.VIEW_JOBS)
    rows = session.execute(
        select(Job, User.login)
        .outerjoin(User, User.id == Job.submitted_by_id)
        .order_by(Job.submitted_at.desc(), Job.id)
        .limit(200)
    ).all()
    running = any(job.state in RUNNING_STATES for job, _login in rows)
    return render(
        request,
        "jobs.html",
        rows=rows,
        refresh=JOB_REFRESH_SECONDS if running else None,
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request, principal: PagePrincipal, session: PageSession, job_id: str
) -> Response:
    require(principal, Action.VIEW_JOBS)
    row = (
        session.execute(
            select(Job, User.login)
            .outerjoin(User, User.id == Job.submitted_by_id)
            .where(Job.id == job_id)
        ).first()
        if len(job_id) <= 36
        else None
    )
    if row is None:
        raise PageNotFound(f"There is no batch job {job_id!r} in this environment.")
    job, login = row
    return render(
        request,
        "job.html",
        job=job,
        submitter=login,
        refresh=JOB_REFRESH_SECONDS if job.state in RUNNING_STATES else None,
    )


# --- installation ------------------------------------------------------------------------------


def _wants_page(request: Request) -> bool:
    return bool(getattr(request.state, "web", False))


def install(app: FastAPI) -> None:
    """Mount the pages, their assets and the HTML answers for the web's own exceptions."""
    app.mount(ASSETS_PREFIX, StaticFiles(directory=Path(WEB_DIR / "static")), name="web-assets")
    app.include_router(router)
    app.include_router(admin.router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> RedirectResponse:
        return sign_in_redirect(exc.next_path)

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, _exc: CsrfRejected) -> Response:
        return render(
            request,
            "message.html",
            status_code=403,
            title="Form expired",
            message="The form was not sent by this session (its security token is missing or "
            "stale). Go back, reload the page and try again.",
        )

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> Response:
        return render(
            request, "message.html", status_code=404, title="Not found", message=exc.message
        )

    @app.exception_handler(PermissionDenied)
    async def _forbidden(request: Request, exc: PermissionDenied) -> Response:
        if not _wants_page(request):
            return error_response(403, "forbidden", exc.message)
        return render(
            request,
            "message.html",
            status_code=403,
            title="Not allowed",
            message=exc.message[0].upper() + exc.message[1:] + ".",
        )
