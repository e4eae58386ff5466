"""What the app holds for its lifetime: settings, engine and session factories."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from planfeed.config import Settings
from planfeed.db.engine import make_engine, make_sessionmaker
from planfeed.plans.export import PageAnchors


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    reader: sessionmaker[Session]
    writer: sessionmaker[Session]
    export_anchors: PageAnchors = field(default_factory=PageAnchors)

    @classmethod
    def build(cls, settings: Settings, engine: Engine | None = None) -> AppState:
        engine = engine or make_engine(settings.effective_database_url)
        return cls(
            settings=settings,
            engine=engine,
            reader=make_sessionmaker(engine),
            writer=make_sessionmaker(engine, writer=True),
        )
