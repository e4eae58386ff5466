"""/swagger/ is served from the package's own assets and names no other origin."""

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import planfeed
from planfeed.config import Settings
from planfeed.http.app import create_app
from support import TEST_SECRET

ASSETS = Path(planfeed.__file__).parent / "http" / "static" / "swagger"


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("swagger")
    settings = Settings(
        database_url=f"sqlite:///{data_dir / 'unused.db'}",
        data_dir=data_dir,
        secret_key=TEST_SECRET,
        run_worker=False,
    )
    return TestClient(create_app(settings))


def test_page_loads_only_local_assets(web):
    page = web.get("/swagger/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", html), "the page names another origin"
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(sources) == [
        "/static/swagger/favicon-32x32.png",
        "/static/swagger/swagger-ui-bundle.js",
        "/static/swagger/swagger-ui.css",
    ]
    assert "url: '/openapi.json'" in html
    assert '"validatorUrl": null' in html
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self'" in policy
    for source in sources:
        asset = web.get(source)
        assert asset.status_code == 200, source
        assert asset.content == (ASSETS / source.rsplit("/", 1)[1]).read_bytes()


def test_asset_types(web):
    assert (
        web.get("/static/swagger/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )
    assert web.get("/static/swagger/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert web.get("/static/swagger/favicon-32x32.png").headers["content-type"] == "image/png"
    assert web.get("/static/swagger/missing.js").status_code == 404


def test_without_slash_redirects_and_openapi_stays(web):
    redirect = web.get("/swagger", follow_redirects=False)
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/swagger/"
    assert web.get("/openapi.json").json()["info"]["title"] == "planfeed"
    assert "/swagger/" not in web.get("/openapi.json").json()["paths"]


def test_behind_a_path_prefix_the_urls_keep_it(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        run_worker=False,
    )
    web = TestClient(create_app(settings), root_path="/planfeed")
    html = web.get("/swagger/").text
    assert 'src="/planfeed/static/swagger/swagger-ui-bundle.js"' in html
    assert "url: '/planfeed/openapi.json'" in html
    redirect = web.get("/swagger", follow_redirects=False)
    assert redirect.headers["location"] == "/planfeed/swagger/"


def test_vendored_assets_say_where_they_come_from():
    readme = (ASSETS / "README.md").read_text()
    assert re.search(r"^Version: \d+\.\d+\.\d+$", readme, re.M)
    assert "scripts/update-swagger-ui.sh" in readme
    assert "Apache License" in (ASSETS / "LICENSE").read_text()
