"""Health, readiness, HTTPS enforcement and the configuration's secret rule."""

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from planfeed.accounts.models import Role
from planfeed.config import ConfigError, Settings
from planfeed.db.engine import make_engine
from planfeed.http.app import create_app
from support import TEST_SECRET


def test_health_and_ready(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_app_refuses_to_start_on_unmigrated_database(tmp_path):
    from planfeed.db.migrate import SchemaNotCurrent

    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    app = create_app(Settings(data_dir=tmp_path, secret_key=TEST_SECRET), engine=engine)
    with pytest.raises(SchemaNotCurrent, match="planfeed migrate"), TestClient(app):
        pass


def test_require_https(db, tmp_path, make_tenant):
    tenant = make_tenant("acme")
    tenant.user("root", Role.SUPER_ADMIN)
    key = tenant.key("root")
    headers = {"Authorization": f"API-KEY {key}"}
    base = {
        "database_url": db.url,
        "data_dir": tmp_path,
        "secret_key": TEST_SECRET,
        "require_https": True,
    }
    app = create_app(Settings(**base), engine=db.engine)
    with TestClient(app, base_url="http://testserver", client=("127.0.0.1", 1)) as client:
        refused = client.get("/api/whoami", headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"] == "https_required"
        assert client.get("/healthz").status_code == 200
        spoofed = client.get("/api/whoami", headers={**headers, "X-Forwarded-Proto": "https"})
        assert spoofed.status_code == 403
    with TestClient(app, base_url="https://testserver", client=("127.0.0.1", 1)) as client:
        assert client.get("/api/whoami", headers=headers).status_code == 200
    proxied = create_app(Settings(**base, trusted_proxies=["127.0.0.1"]), engine=db.engine)
    with TestClient(proxied, base_url="http://testserver", client=("127.0.0.1", 1)) as client:
        ok = client.get("/api/whoami", headers={**headers, "X-Forwarded-Proto": "https"})
        assert ok.status_code == 200


@pytest.mark.parametrize("secret", ["change-me", "short"])
def test_weak_secret_refused_outside_demo(secret):
    with pytest.raises(ConfigError, match="PLANFEED_SECRET_KEY"):
        Settings(secret_key=secret).check_secret()
    Settings(secret_key=secret, demo=True).check_secret()
    Settings(secret_key="y" * 40).check_secret()


def test_settings_from_environment_and_file(tmp_path, monkeypatch):
    config = tmp_path / "planfeed.toml"
    config.write_text("port = 9001\nmax_batch_rows = 10\n", encoding="utf-8")
    monkeypatch.setenv("PLANFEED_CONFIG", str(config))
    monkeypatch.setenv("PLANFEED_MAX_BATCH_ROWS", "20")
    settings = Settings()
    assert settings.port == 9001
    assert settings.max_batch_rows == 20
    monkeypatch.setenv("PLANFEED_DATABASE_URL", "postgresql://u@h/db")
    assert Settings().effective_database_url == "postgresql+psycopg://u@h/db"


def test_log_level_takes_uvicorns_names_in_any_case(monkeypatch):
    """``INFO`` is ``info``, as uvicorn reads it; a level it does not know is refused."""
    monkeypatch.setenv("PLANFEED_LOG_LEVEL", "WARNING")
    assert Settings().log_level == "warning"
    monkeypatch.setenv("PLANFEED_LOG_LEVEL", "verbose")
    with pytest.raises(ValidationError, match="log_level"):
        Settings()
