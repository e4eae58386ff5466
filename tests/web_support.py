"""Data and helpers shared by the web page tests (ASGI) and the browser tests."""

from __future__ import annotations

import datetime as dt
import re

from planfeed.accounts.models import Role, User
from planfeed.db.base import Environment
from planfeed.plans.models import (
    Checklist,
    ChecklistEntry,
    Plan,
    PlanAccess,
    PlanItem,
    PlanItemTag,
    PlanLevel,
    ProgressUpdate,
    Tag,
    UpdateFrequency,
    UpdateSource,
)
from planfeed.plans.sequence import parent_sequence, sequence_key
from planfeed.plans.statuses import Status

PASSWORD = "correct horse battery staple"


def make_web_plan(tenant, environment=Environment.LIVE, viewer: str | None = None):
    """A plan "Growth Plan" with a goal, two metric items (one with history) and a past-due
    step; ``viewer`` (a login) gets read access. Returns a dict of public ids."""
    today = dt.date.today()
    with tenant.session(environment) as session, session.begin():
        owner = session.query(User).filter(User.role == Role.SUPER_ADMIN.value).first()
        plan = Plan(name="Growth Plan", description="Grow the business.")
        plan.levels = [PlanLevel(depth=1, name="Goal"), PlanLevel(depth=2, name="Step")]
        session.add(plan)
        session.flush()
        specs = [
            ("1", "Grow revenue", Status.ON_TRACK, False, None),
            ("1.1", "Win new customers", Status.AT_RISK, True, (0.0, 100.0, 40.0)),
            ("1.2", "Raise prices", Status.OFF_TRACK, False, None),
            ("1.10", "Reduce churn", Status.NOT_STARTED, True, (10.0, 2.0, 8.0)),
        ]
        items = {}
        for sequence, name, status, has_metric, metric in specs:
            parent = items.get(parent_sequence(sequence))
            baseline, target, current = metric or (None, None, None)
            items[sequence] = item = PlanItem(
                plan_id=plan.id,
                parent_id=parent.id if parent else None,
                level_id=plan.levels[sequence.count(".")].id,
                sequence_id=sequence,
                sequence_key=sequence_key(sequence),
                external_id=f"EXT-{sequence}",
                name=name,
                status=status.value,
                has_metric=has_metric,
                baseline=baseline,
                target=target,
                current_value=current,
                units=2 if has_metric else None,
                start_date=today - dt.timedelta(days=90),
                due_date=today - dt.timedelta(days=3)
                if sequence == "1.2"
                else today + dt.timedelta(days=60),
                update_frequency=UpdateFrequency.WEEKLY.value
                if sequence == "1.2"
                else UpdateFrequency.NOT_REQUIRED.value,
                assigned_to_id=owner.id if owner else None,
            )
            session.add(item)
            session.flush()
        metric_item = items["1.1"]
        for weeks_ago, value in ((8, 10.0), (4, 25.0), (1, 40.0)):
            as_of = today - dt.timedelta(weeks=weeks_ago)
            session.add(
                ProgressUpdate(
                    item_id=metric_item.id,
                    status=Status.AT_RISK.value,
                    value=value,
                    as_of=as_of,
                    comment=f"Week -{weeks_ago}",
                    source=UpdateSource.DEMO.value,
                )
            )
        metric_item.last_update_on = today - dt.timedelta(weeks=1)
        metric_item.last_metric_on = metric_item.last_update_on
        metric_item.updates_count = 3
        checklist = Checklist(item_id=metric_item.id, name="Launch checklist")
        checklist.entries = [
            ChecklistEntry(name="Agree scope", sort_index=0, done_on=today),
            ChecklistEntry(name="Go live", sort_index=1),
        ]
        session.add(checklist)
        tag = Tag(name="Customers")
        session.add(tag)
        session.flush()
        session.add(PlanItemTag(item_id=metric_item.id, tag_id=tag.id))
        if viewer:
            user = session.query(User).filter(User.login == viewer).one()
            session.add(PlanAccess(plan_id=plan.id, user_id=user.id, is_admin=False))
        return {
            "plan": plan.public_id,
            "plan_pk": plan.id,
            **{f"item {seq}": item.public_id for seq, item in items.items()},
        }


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client, login, password=PASSWORD, environment="live", platform=""):
    """Sign in through the form; returns the final response (after the redirect)."""
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={
            "csrf_token": csrf_of(page.text),
            "login": login,
            "password": password,
            "environment": environment,
            "platform": platform,
            "next": "/plans",
        },
        follow_redirects=False,
    )
    return response
