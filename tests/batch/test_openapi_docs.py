"""The OpenAPI description documents the batch API's answers as they really are."""

import warnings

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from planfeed.accounts.models import Role
from planfeed.config import Settings
from planfeed.http.app import create_app
from support import TEST_SECRET

KINDS = ("progressupdates", "metricupdates")


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    """/openapi.json of an app that never touches its database (no lifespan, no auth)."""
    data_dir = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        database_url=f"sqlite:///{data_dir / 'unused.db'}",
        data_dir=data_dir,
        secret_key=TEST_SECRET,
        run_worker=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. FastAPI's "Duplicate Operation ID"
        response = TestClient(create_app(settings)).get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def schema_of(spec, fragment):
    """A JSON-Schema validator for a fragment of the spec, resolving #/components refs."""
    return Draft202012Validator({**fragment, "components": spec["components"]})


def component(spec, ref_holder):
    name = ref_holder["$ref"].rsplit("/", 1)[1]
    return spec["components"]["schemas"][name]


def test_the_description_is_valid_openapi(spec):
    validate_spec(spec)
    operation_ids = [
        operation["operationId"] for path in spec["paths"].values() for operation in path.values()
    ]
    assert len(operation_ids) == len(set(operation_ids))


@pytest.mark.parametrize("endpoint", KINDS)
def test_submit_answers_a_job_id_and_nothing_else(spec, endpoint):
    operation = spec["paths"][f"/api/{endpoint}/{{filename}}"]["post"]
    ok = operation["responses"]["200"]["content"]["application/json"]
    alternatives = ok["schema"]["anyOf"]
    accepted = component(spec, alternatives[0])
    assert accepted["title"] == "JobAccepted"
    assert accepted["properties"].keys() == {"jobId"}
    assert accepted["properties"]["jobId"]["type"] == "string"
    assert accepted["required"] == ["jobId"]
    assert accepted["additionalProperties"] is False
    assert component(spec, alternatives[1])["title"] == "ValidationReport"
    assert ok["examples"]["queued"]["value"] == {"jobId": "2bf2dda7-2aa4-4345-b6a8-8070d6ceec39"}
    validator = schema_of(spec, {"$ref": alternatives[0]["$ref"]})
    validator.validate(ok["examples"]["queued"]["value"])
    assert not validator.is_valid({"jobId": "x", "extra": 1})
    schema_of(spec, ok["schema"]).validate(ok["examples"]["dryRunValid"]["value"])


@pytest.mark.parametrize(
    ("endpoint", "required"),
    [
        ("progressupdates", {"externalId", "status", "asOfDate"}),
        ("metricupdates", {"externalId", "metricValue", "asOfDate"}),
    ],
)
def test_submit_documents_every_body_alternative(spec, endpoint, required):
    body = spec["paths"][f"/api/{endpoint}/{{filename}}"]["post"]["requestBody"]
    assert body["required"] is True
    content = body["content"]
    assert content.keys() == {
        "application/octet-stream",
        "text/csv",
        "multipart/form-data",
        "application/json",
    }
    assert content["application/octet-stream"]["schema"] == {"type": "string", "format": "binary"}
    assert content["text/csv"]["example"].startswith("External ID,")
    form = content["multipart/form-data"]["schema"]
    assert form["required"] == ["file"]
    assert form["properties"]["file"]["format"] == "binary"
    rows = content["application/json"]["schema"]
    assert rows["type"] == "array"
    assert set(rows["items"]["required"]) == required
    assert "--data-binary" in body["description"]


@pytest.mark.parametrize("endpoint", KINDS)
def test_submit_documents_its_failures_with_the_error_body(spec, endpoint):
    responses = spec["paths"][f"/api/{endpoint}/{{filename}}"]["post"]["responses"]
    assert {"200", "400", "401", "403", "413", "422", "500"} <= responses.keys()
    for status in ("401", "403", "413", "422", "500"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert component(spec, schema)["title"] == "ErrorBody", status
    too_large = responses["413"]["content"]["application/json"]
    schema_of(spec, too_large["schema"]).validate(too_large["example"])
    assert "bytes" in too_large["example"]["message"]
    assert responses["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ValidationReport"
    )


@pytest.mark.parametrize("endpoint", KINDS)
def test_status_documents_each_state_as_an_http_status(spec, endpoint):
    path = spec["paths"][f"/api/{endpoint}/status/{{jobId}}"]
    assert "head" not in path  # HEAD works but is not shown; the description says so
    operation = path["get"]
    assert "HEAD" in operation["description"]
    assert [p["name"] for p in operation["parameters"]] == ["jobId"]
    responses = operation["responses"]
    states = {"200": "applied", "202": "queued", "400": "rejected", "500": "failed"}
    for status, state in states.items():
        media = responses[status]["content"]["application/json"]
        assert component(spec, media["schema"])["title"] == "JobStatus", status
        assert media["example"]["state"] == state
        schema_of(spec, media["schema"]).validate(media["example"])
    assert responses["400"]["content"]["application/json"]["example"]["errors"][0]["row"] == 2
    for status in ("401", "404"):
        media = responses[status]["content"]["application/json"]
        assert component(spec, media["schema"])["title"] == "ErrorBody"
        schema_of(spec, media["schema"]).validate(media["example"])


def test_exports_document_their_answers(spec):
    plan = spec["paths"]["/exports/plans/{plan_id}"]["get"]
    ok = component(spec, plan["responses"]["200"]["content"]["application/json"]["schema"])
    assert ok["required"] == ["items", "totalCount"]
    assert {p["name"] for p in plan["parameters"]} == {
        "plan_id",
        "skip",
        "take",
        "sortKey",
        "sortDirection",
    }
    for status in ("400", "401", "403"):
        schema = plan["responses"][status]["content"]["application/json"]["schema"]
        assert component(spec, schema)["title"] == "ErrorBody"
    ids = spec["paths"]["/exports/plans/{plan_id}/externalids"]["get"]["responses"]
    csv = ids["200"]["content"]
    assert csv.keys() == {"text/csv"}
    assert csv["text/csv"]["example"].startswith("External ID,Sequence,Level,Name")
    assert {"401", "403"} <= ids.keys()


def test_the_api_key_header_is_declared_for_authenticated_operations(spec):
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`API-KEY <key>` (as the AchieveIt API documents it) or `Bearer <key>`.",
    }
    for path in ("/api/progressupdates/{filename}", "/api/metricupdates/{filename}"):
        assert spec["paths"][path]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_real_answers_match_the_documented_schemas(client, make_tenant):
    """A submission, its status, a 404 and a 401 validate against what /openapi.json says."""
    spec = client.get("/openapi.json").json()
    tenant = make_tenant("acme")
    tenant.user("root", Role.SUPER_ADMIN)
    headers = {"Authorization": f"API-KEY {tenant.key('root')}"}
    submit = spec["paths"]["/api/progressupdates/{filename}"]["post"]["responses"]
    answer = client.post(
        "/api/progressupdates/u", content=b"EXT-1,On Track,,2025-01-01\n", headers=headers
    )
    assert answer.status_code == 200
    assert answer.json().keys() == {"jobId"}
    accepted = submit["200"]["content"]["application/json"]["schema"]["anyOf"][0]
    schema_of(spec, accepted).validate(answer.json())

    status = spec["paths"]["/api/progressupdates/status/{jobId}"]["get"]["responses"]
    queued = client.get(f"/api/progressupdates/status/{answer.json()['jobId']}", headers=headers)
    assert queued.status_code == 202
    schema_of(spec, status["202"]["content"]["application/json"]["schema"]).validate(queued.json())
    missing = client.get("/api/metricupdates/status/nope", headers=headers)
    assert missing.status_code == 404
    schema_of(spec, status["404"]["content"]["application/json"]["schema"]).validate(missing.json())
    unauthorised = client.post("/api/progressupdates/u", content=b"x")
    assert unauthorised.status_code == 401
    schema_of(spec, submit["401"]["content"]["application/json"]["schema"]).validate(
        unauthorised.json()
    )


def test_validation_failures_are_documented_as_they_are_answered(spec):
    """The app answers bad parameters with 400 ErrorBody (errors.py), so no FastAPI 422s."""
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "422" in operation["responses"]:
                assert path.endswith("/{filename}"), (method, path)  # the Idempotency-Key 422
                schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
                assert component(spec, schema)["title"] == "ErrorBody"


def test_an_unexpected_failure_answers_the_documented_500_body(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        data_dir=tmp_path,
        secret_key=TEST_SECRET,
        run_worker=False,
    )
    app = create_app(settings)

    @app.get("/boom")
    def boom():
        raise RuntimeError("disk on fire")

    answer = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert answer.status_code == 500
    assert answer.json()["error"] == "internal_error"
    assert "changed nothing" in answer.json()["message"]
    assert "disk on fire" not in answer.text
    spec = app.openapi()
    schema = spec["paths"]["/api/progressupdates/{filename}"]["post"]["responses"]["500"]
    schema_of(spec, schema["content"]["application/json"]["schema"]).validate(answer.json())
