"""The demo organisation: users of every role, a 65-item plan, 200 course dates, two API keys.

Loaded once into an empty database by ``planfeed serve --demo``; a second start finds the
``demo`` organisation and only re-reads the saved credentials.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from planfeed.accounts.models import Role, Team, TeamMember, User
from planfeed.accounts.service import (
    create_api_key,
    create_organisation,
    create_user,
    find_user,
    get_organisation,
)
from planfeed.auth.principal import Principal, system_principal
from planfeed.db.base import Environment
from planfeed.db.engine import make_sessionmaker
from planfeed.db.sandbox import reset_sandbox
from planfeed.db.scope import bind_scope
from planfeed.plans.models import (
    Checklist,
    ChecklistEntry,
    MetricGoal,
    MetricUnit,
    Plan,
    PlanAccess,
    PlanItem,
    PlanItemAccess,
    PlanItemTag,
    PlanLevel,
    ProgressUpdate,
    Tag,
    TrackingDirection,
    UpdateFrequency,
    UpdateSource,
)
from planfeed.plans.sequence import sequence_key
from planfeed.plans.statuses import Status
from planfeed.training.models import (
    Booking,
    Company,
    CourseDate,
    CourseDateStatus,
    CourseTemplate,
)

DEMO_PLATFORM = "demo"
DEMO_USER = "admin"
CREDENTIALS_FILE = "demo-credentials.json"
SAMPLE_FILE = "demo-progress.csv"
_EXTERNAL_ID_NAMESPACE = uuid.UUID("6f1d7c1e-2b1a-4f3e-9a57-3c2f0d6f9b10")


@dataclass(frozen=True)
class DemoCredentials:
    platform: str
    username: str
    password: str
    api_key: str
    sandbox_api_key: str
    plan_id: str


def demo_external_id(sequence_id: str) -> str:
    """Stable UUIDs, so the sample file and docs keep working across fresh demo databases."""
    return str(uuid.uuid5(_EXTERNAL_ID_NAMESPACE, sequence_id))


_OBJECTIVES = [
    "Grow recurring revenue",
    "Delight our customers",
    "Build a safe, skilled workforce",
    "Run efficient operations",
    "Lead on sustainability",
]
_STRATEGIES = ["Expand", "Improve", "Measure"]
_TACTICS = ["Pilot", "Roll out", "Review"]
_TAGS = ["Finance", "People", "Customers", "Operations", "Green", "Quarterly review"]
_COURSES = [
    ("FirAid", "First Aid at Work", 18.0),
    ("FireSa", "Fire Safety Awareness", 3.0),
    ("ManHan", "Manual Handling", 4.0),
    ("GDPRes", "GDPR Essentials", 2.0),
    ("LeadSk", "Leadership Skills", 14.0),
    ("MenHea", "Mental Health First Aid", 12.0),
]


def _people(session: Session, actor: Principal, password: str) -> list[User]:
    specs = [
        (DEMO_USER, "Ada", "Admin", Role.SUPER_ADMIN, password),
        ("manager", "Morgan", "Manager", Role.ADMIN, password),
        ("alice", "Alice", "Adams", Role.USER, password),
        ("bob", "Bob", "Brown", Role.USER, password),
    ]
    users = [
        create_user(
            session,
            actor,
            login=login,
            email=f"{login}@demo.example",
            password=pw,
            role=role,
            forenames=forenames,
            surname=surname,
        )
        for login, forenames, surname, role, pw in specs
    ]
    first = ["Sam", "Jo", "Alex", "Chris", "Pat", "Lee", "Robin", "Kim", "Jamie", "Taylor"]
    last = ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Thomas", "Roberts"]
    rng = random.Random(7)
    for index in range(36):
        forenames, surname = rng.choice(first), rng.choice(last)
        login = f"learner{index + 1:02d}"
        users.append(
            User(
                login=login,
                email=f"{login}@demo.example",
                forenames=forenames,
                surname=surname,
                role=Role.USER.value,
            )
        )
    session.add_all(users[4:])
    session.flush()
    return users


def _plan(session: Session, users: list[User], today: dt.date) -> Plan:
    rng = random.Random(42)
    admin, manager, alice, bob = users[:4]
    plan = Plan(name="Strategic Plan 2026", description="The demo organisation's plan.")
    plan.levels = [
        PlanLevel(depth=1, name="Corporate Objective"),
        PlanLevel(depth=2, name="Strategy"),
        PlanLevel(depth=3, name="Tactic"),
    ]
    session.add(plan)
    session.flush()
    team = Team(name="Plan owners", description="Edits the strategic plan")
    session.add(team)
    session.flush()
    session.add_all(
        [
            TeamMember(team_id=team.id, user_id=manager.id),
            TeamMember(team_id=team.id, user_id=alice.id),
        ]
    )
    session.add_all(
        [
            PlanAccess(plan_id=plan.id, team_id=team.id, is_admin=True),
            PlanAccess(plan_id=plan.id, user_id=bob.id, is_admin=False),
        ]
    )
    tags = [Tag(name=name) for name in _TAGS]
    session.add_all(tags)
    session.flush()
    assignees = [admin, manager, alice, bob]
    start = dt.date(today.year, 1, 1)
    frequencies = list(UpdateFrequency)

    def add_item(parent: PlanItem | None, depth: int, sequence: str, name: str) -> PlanItem:
        has_metric = depth > 1 and rng.random() < 0.7
        unit = rng.choice(list(MetricUnit)) if has_metric else None
        baseline = target = current = None
        if has_metric:
            if unit == MetricUnit.PERCENT:
                baseline, target = 0.0, round(rng.uniform(0.5, 1.0), 2)
            else:
                baseline, target = 0.0, float(rng.choice([100, 250, 1000, 50000]))
            current = round(target * rng.uniform(0.1, 0.9), 2)
        item = PlanItem(
            plan_id=plan.id,
            parent_id=parent.id if parent else None,
            level_id=plan.levels[depth - 1].id,
            sequence_id=sequence,
            sequence_key=sequence_key(sequence),
            external_id=demo_external_id(sequence),
            name=name,
            description=f"{name}: part of the {plan.name}.",
            status=rng.choice(list(Status)).value,
            start_date=start + dt.timedelta(days=rng.randint(0, 60)),
            due_date=start + dt.timedelta(days=rng.randint(120, 360)),
            has_metric=has_metric,
            units=unit.value if unit is not None else None,
            baseline=baseline,
            target=target,
            current_value=current,
            tracking_direction=TrackingDirection.INCREASE.value if has_metric else None,
            assigned_to_id=rng.choice(assignees).id,
            assigned_by_id=admin.id,
            update_frequency=rng.choice(frequencies).value,
            grace_days=3,
            files_count=rng.randint(0, 3),
        )
        session.add(item)
        session.flush()
        return item

    for o_index, objective in enumerate(_OBJECTIVES, start=1):
        top = add_item(None, 1, str(o_index), objective)
        for s_index, strategy in enumerate(_STRATEGIES, start=1):
            middle = add_item(top, 2, f"{o_index}.{s_index}", f"{strategy}: {objective.lower()}")
            for t_index, tactic in enumerate(_TACTICS, start=1):
                add_item(
                    middle,
                    3,
                    f"{o_index}.{s_index}.{t_index}",
                    f"{tactic} — {strategy.lower()} {objective.lower()}",
                )
    items = list(session.query(PlanItem).filter(PlanItem.plan_id == plan.id))
    for item in items:
        for tag in rng.sample(tags, rng.randint(0, 2)):
            session.add(PlanItemTag(item_id=item.id, tag_id=tag.id))
        session.add(PlanItemAccess(item_id=item.id, team_id=team.id, is_admin=True))
        session.add(PlanItemAccess(item_id=item.id, user_id=bob.id, is_admin=False))
        if item.has_metric and item.target:
            session.add_all(
                [
                    MetricGoal(
                        item_id=item.id,
                        name="Behind",
                        color="#d9534f",
                        bucket_value=item.target * 0.5,
                        sort_order=0,
                    ),
                    MetricGoal(
                        item_id=item.id,
                        name="On target",
                        color="#5cb85c",
                        bucket_value=item.target,
                        sort_order=1,
                    ),
                ]
            )
        if item.sequence_id.count(".") == 2 and rng.random() < 0.3:
            checklist = Checklist(item_id=item.id, name="Launch checklist", sort_index=0)
            checklist.entries = [
                ChecklistEntry(name=step, sort_index=i, done_on=today if i == 0 else None)
                for i, step in enumerate(["Agree scope", "Brief the team", "Go live"])
            ]
            session.add(checklist)
        for weeks_ago in (8, 4):
            as_of = today - dt.timedelta(weeks=weeks_ago)
            value = None
            if item.has_metric and item.current_value is not None:
                value = round(item.current_value * (1 - weeks_ago / 20), 2)
            session.add(
                ProgressUpdate(
                    item_id=item.id,
                    status=item.status,
                    value=value,
                    as_of=as_of,
                    comment=f"Update of {as_of:%d %b}",
                    author_id=admin.id,
                    source=UpdateSource.DEMO.value,
                )
            )
        item.updates_count = 2
        item.last_update_on = today - dt.timedelta(weeks=4)
        item.last_update_comment = f"Update of {item.last_update_on:%d %b}"
        item.last_progress_user_id = admin.id
    return plan


def _training(session: Session, users: list[User], today: dt.date) -> None:
    rng = random.Random(2024)
    companies = [
        Company(name=name, email=f"training@{slug}.example")
        for name, slug in [("Acme Ltd", "acme"), ("Globex plc", "globex"), ("Initech", "initech")]
    ]
    session.add_all(companies)
    templates = [
        CourseTemplate(
            code=code, name=name, duration_hours=hours, description=f"{name} ({hours:g} hours)"
        )
        for code, name, hours in _COURSES
    ]
    session.add_all(templates)
    session.flush()
    learners = users[4:]
    for learner in learners:
        learner.company_id = rng.choice(companies).id
    base = dt.datetime(today.year, today.month, 1, 9, 0, tzinfo=dt.UTC)
    for index in range(200):
        template = templates[index % len(templates)]
        start = base + dt.timedelta(days=rng.randint(-120, 240), hours=rng.choice([0, 4]))
        capacity = rng.choice([8, 10, 12, 16])
        booked = rng.sample(learners, rng.randint(0, capacity))
        if start.date() < today:
            status = CourseDateStatus.COMPLETED
        elif rng.random() < 0.08:
            status, booked = CourseDateStatus.CANCELLED, []
        elif len(booked) == capacity:
            status = CourseDateStatus.FULL
        else:
            status = CourseDateStatus.AVAILABLE
        course_date = CourseDate(
            course_template_id=template.id,
            label=f"{template.name} — {start:%d %b %Y}",
            start_date=start,
            end_date=start + dt.timedelta(hours=template.duration_hours or 3),
            status=status.value,
            capacity=capacity,
            booked_count=len(booked),
            location=rng.choice(["Leeds", "London", "Online", "Bristol"]),
            price=rng.choice([95.0, 150.0, 295.0]),
        )
        session.add(course_date)
        session.flush()
        session.add_all(
            [
                Booking(
                    course_date_id=course_date.id, user_id=learner.id, company_id=learner.company_id
                )
                for learner in booked
            ]
        )


def _write_sample(data_dir: Path, plan_items: list[tuple[str, bool]]) -> None:
    lines = ["External ID,Status,Current Metric Value,As Of Date,Comment"]
    for external_id, has_metric in plan_items[:5]:
        value = "0.5" if has_metric else ""
        lines.append(
            f"{external_id},On Track,{value},{dt.date.today():%m/%d/%Y},Loaded from the sample file"
        )
    (data_dir / SAMPLE_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_demo(engine: Engine, secret_key: str, data_dir: Path) -> DemoCredentials:
    """Create the demo organisation if absent; return (and save) its credentials."""
    credentials_path = data_dir / CREDENTIALS_FILE
    factory = make_sessionmaker(engine, writer=True)
    with factory() as session:
        existing = get_organisation(session, DEMO_PLATFORM)
    if existing is not None and credentials_path.is_file():
        return DemoCredentials(**json.loads(credentials_path.read_text(encoding="utf-8")))
    if existing is not None:
        raise RuntimeError(
            f"organisation {DEMO_PLATFORM!r} exists but {credentials_path} is missing; "
            "use a fresh --data-dir or create keys with `planfeed key create`"
        )
    today = dt.date.today()
    password = secrets.token_urlsafe(12)
    with factory.begin() as session:
        organisation = create_organisation(session, DEMO_PLATFORM, "Demo Organisation")
        live = system_principal(organisation.id, organisation.name, Environment.LIVE, "demo")
        bind_scope(session, live.scope)
        users = _people(session, live, password)
        plan = _plan(session, users, today)
        _training(session, users, today)
        api_key = create_api_key(
            session,
            live,
            secret_key,
            user=users[0],
            label="Demo live key",
            environment=Environment.LIVE,
        )[1]
        sample = [
            (item.external_id, item.has_metric)
            for item in session.query(PlanItem)
            .filter(PlanItem.plan_id == plan.id, PlanItem.sequence_id.like("%.%.%"))
            .order_by(PlanItem.sequence_key)
        ]
        plan_id = plan.public_id
        organisation_id = organisation.id
    with engine.begin() as connection:
        reset_sandbox(connection, organisation_id)
    with factory.begin() as session:
        sandbox = system_principal(organisation_id, DEMO_PLATFORM, Environment.SANDBOX, "demo")
        bind_scope(session, sandbox.scope)
        sandbox_admin = find_user(session, DEMO_USER)
        assert sandbox_admin is not None
        sandbox_key = create_api_key(
            session,
            sandbox,
            secret_key,
            user=sandbox_admin,
            label="Demo sandbox key",
            environment=Environment.SANDBOX,
        )[1]
    credentials = DemoCredentials(
        platform=DEMO_PLATFORM,
        username=DEMO_USER,
        password=password,
        api_key=api_key,
        sandbox_api_key=sandbox_key,
        plan_id=plan_id,
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    credentials_path.write_text(json.dumps(asdict(credentials), indent=2) + "\n", encoding="utf-8")
    credentials_path.chmod(0o600)
    _write_sample(data_dir, sample)
    return credentials
