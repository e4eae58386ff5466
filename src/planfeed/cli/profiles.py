"""Named client profiles (URL, platform, environment, key) in the user's config directory.

The file is ``<config dir>/planfeed/profiles.json`` (``$XDG_CONFIG_HOME/planfeed`` on Linux),
written with owner-only permissions (0600, directory 0700) because it holds API keys.
``PLANFEED_URL``, ``PLANFEED_API_KEY`` and ``PLANFEED_ENVIRONMENT`` override the profile.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

DEFAULT_PROFILE = "default"


@dataclass(frozen=True, slots=True)
class Profile:
    url: str
    api_key: str
    environment: str | None = "live"
    platform: str | None = None


class ProfileError(Exception):
    """No usable profile; the message says how to make one."""


def config_dir() -> Path:
    return platformdirs.user_config_path("planfeed", appauthor=False)


def profiles_path() -> Path:
    return config_dir() / "profiles.json"


def _read() -> dict[str, dict[str, str]]:
    path = profiles_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ProfileError(
            f"cannot read {path}: {exc}; fix or delete it and run `planfeed login` again"
        ) from exc
    profiles = data.get("profiles") if isinstance(data, dict) else None
    return profiles if isinstance(profiles, dict) else {}


def save_profile(name: str, profile: Profile) -> Path:
    """Add or replace a profile; the file is only ever readable by its owner."""
    profiles = _read()
    profiles[name] = {k: v for k, v in asdict(profile).items() if v is not None}
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    path = profiles_path()
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"profiles": profiles}, handle, indent=2, sort_keys=True)
    os.chmod(temporary, 0o600)  # O_CREAT's mode does not apply to an existing file
    os.replace(temporary, path)
    return path


def profile_names() -> list[str]:
    return sorted(_read())


def resolve(name: str | None, environ: Mapping[str, str] | None = None) -> Profile:
    """The profile ``name`` (default: "default"), with the environment overrides applied."""
    env = os.environ if environ is None else environ
    chosen = name or DEFAULT_PROFILE
    stored = _read().get(chosen)
    if name and stored is None and name != DEFAULT_PROFILE:
        known = ", ".join(profile_names()) or "none yet"
        raise ProfileError(
            f"no profile {name!r} (known: {known}); "
            f"create it with `planfeed login --profile {name}`"
        )
    stored = stored or {}
    url = env.get("PLANFEED_URL") or stored.get("url")
    key = env.get("PLANFEED_API_KEY") or stored.get("api_key")
    if not url or not key:
        missing = " and ".join(
            what for what, value in (("a URL", url), ("an API key", key)) if not value
        )
        raise ProfileError(
            f"no {missing} to use: run `planfeed login` (profile {chosen!r}), "
            "or set PLANFEED_URL and PLANFEED_API_KEY"
        )
    # a key from the environment brings its own environment (read from the key if not given)
    stored_environment = None if env.get("PLANFEED_API_KEY") else stored.get("environment")
    environment = env.get("PLANFEED_ENVIRONMENT") or stored_environment
    return Profile(url=url, api_key=key, environment=environment, platform=stored.get("platform"))
