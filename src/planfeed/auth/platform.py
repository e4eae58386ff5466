"""Which environment and which platform a feeds request addresses, and whether its credential fits.

accessplanit serves one platform per subdomain (``platformname.accessplanit.com``) and tells the
live and sandbox environments apart by the path prefix (``/accessplan/…`` and
``/accessplansandbox/…``). planfeed keeps both conventions: the prefix chooses the environment,
and a subdomain, when there is one, names the organisation. Without a subdomain the credential
alone decides the organisation.
"""

from __future__ import annotations

import enum
import ipaddress

from planfeed.auth.authenticate import AuthError
from planfeed.auth.principal import Principal
from planfeed.db.base import Environment

LOCAL_DOMAIN = "localhost"


class FeedPrefix(enum.StrEnum):
    """The first path segment of every feeds URL; it selects the environment."""

    LIVE = "accessplan"
    SANDBOX = "accessplansandbox"

    @property
    def environment(self) -> Environment:
        return Environment.SANDBOX if self is FeedPrefix.SANDBOX else Environment.LIVE

    @classmethod
    def for_environment(cls, environment: Environment) -> FeedPrefix:
        return cls.SANDBOX if environment is Environment.SANDBOX else cls.LIVE


def _strip_port(host: str) -> str:
    if host.startswith("["):  # an IPv6 literal, "[::1]:8000"
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def platform_from_host(host: str | None, base_domain: str | None) -> str | None:
    """The organisation name a Host header's subdomain addresses, or ``None`` when it has none.

    ``demo.<base_domain>`` gives ``"demo"`` when a base domain is configured, and
    ``demo.localhost`` always does (for local use). Ports are ignored; an IP address, the base
    domain itself, any other host name, or a subdomain of more than one label gives ``None``.
    """
    if not host:
        return None
    name = _strip_port(host.strip()).rstrip(".").lower()
    if not name or _is_ip(name):
        return None
    domains = [LOCAL_DOMAIN]
    if base_domain:
        domains.insert(0, base_domain.strip().strip(".").lower())
    for domain in domains:
        suffix = "." + domain
        if name.endswith(suffix):
            label = name[: -len(suffix)]
            if label and "." not in label:
                return label
    return None


def check_credential_fits(
    principal: Principal, environment: Environment, platform: str | None
) -> None:
    """Refuse a credential of another platform (by subdomain) or of the other environment (by path).

    Raises :class:`AuthError` (401) with ``wrong_platform`` or ``wrong_environment`` and a
    message that says which platform or path the credential does belong to.
    """
    if platform is not None and principal.organisation_name != platform:
        raise AuthError(
            "wrong_platform",
            f"this credential belongs to platform {principal.organisation_name!r}, not "
            f"{platform!r} (the host's subdomain); call {principal.organisation_name}.<host> "
            f"or use a credential of {platform!r}",
        )
    if principal.environment != environment:
        own = FeedPrefix.for_environment(principal.environment)
        raise AuthError(
            "wrong_environment",
            f"this is a {principal.environment.value} credential and this path serves the "
            f"{environment.value} environment; call /{own.value}/api/v2/… instead, or use a "
            f"{environment.value} credential",
        )
