"""Settings from ``PLANFEED_*`` environment variables and an optional TOML config file.

Precedence: environment variables, then the config file named by ``PLANFEED_CONFIG``
(or ``<data dir>/planfeed.toml``), then the defaults below.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_SECRET = "change-me"  # noqa: S105 - the sentinel that refuses to start outside demo mode
MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The configuration is unusable; the message says what to set."""


def _config_file() -> Path | None:
    explicit = os.environ.get("PLANFEED_CONFIG")
    if explicit:
        return Path(explicit)
    data_dir = Path(os.environ.get("PLANFEED_DATA_DIR", "./data"))
    candidate = data_dir / "planfeed.toml"
    return candidate if candidate.is_file() else None


class Settings(BaseSettings):
    """Every knob planfeed reads; see ``docs/configuration.md``."""

    model_config = SettingsConfigDict(env_prefix="PLANFEED_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    secret_key: str = DEFAULT_SECRET
    demo: bool = False
    require_https: bool = False
    trusted_proxies: list[str] = Field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000
    run_worker: bool = True
    max_body_bytes: int = 50 * 1024 * 1024
    max_batch_rows: int = 1_000_000
    token_lifetime_seconds: int = Field(default=3600, ge=1)
    base_domain: str | None = None
    login_slow_after_failures: int = Field(default=3, ge=1)
    login_lock_after_failures: int = Field(default=5, ge=1)
    login_lock_seconds: int = Field(default=15 * 60, ge=1)
    login_delay_seconds: float = Field(default=0.5, ge=0)
    login_max_delay_seconds: float = Field(default=2.0, ge=0)
    web_session_seconds: int = Field(default=8 * 3600, ge=60)
    # uvicorn's levels; planfeed's own loggers take the same (``trace`` is ``debug`` for them).
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: Any) -> Any:
        """``INFO`` works as ``info`` (uvicorn lower-cases it too)."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"trusted_proxies: {entry!r} is not an address or CIDR") from exc
        return value

    @field_validator("base_domain")
    @classmethod
    def _clean_domain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = value.strip().strip(".").lower()
        if not cleaned:
            return None
        if "/" in cleaned or ":" in cleaned or " " in cleaned:
            raise ValueError(
                f"base_domain: {value!r} must be a bare host name such as 'planfeed.example.com' "
                "(no scheme, port or path)"
            )
        return cleaned

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL: PostgreSQL via psycopg 3 when asked, else SQLite in the data dir."""
        url = self.database_url
        if not url:
            return f"sqlite:///{(self.data_dir / 'planfeed.db').resolve()}"
        if url.startswith(("postgres://", "postgresql://")):
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    def check_secret(self) -> None:
        """Refuse a missing or default secret unless running the demo."""
        if self.demo:
            return
        if self.secret_key == DEFAULT_SECRET or len(self.secret_key) < MIN_SECRET_LENGTH:
            raise ConfigError(
                "PLANFEED_SECRET_KEY is missing, the default, or shorter than "
                f"{MIN_SECRET_LENGTH} characters. Set it to a long random value, e.g. "
                "`export PLANFEED_SECRET_KEY=\"$(python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')\"`, or run with --demo."
            )

    @property
    def trusted_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(entry, strict=False) for entry in self.trusted_proxies]


def load_toml(path: Path) -> dict[str, Any]:
    """Read a config file, for error messages that name it."""
    with path.open("rb") as handle:
        return tomllib.load(handle)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings``)."""
    return Settings()
