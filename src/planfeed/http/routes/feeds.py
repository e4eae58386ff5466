"""The accessplanit API v2 feeds (seed 004): one generic set of routes for every module.

Each route only resolves the module and hands over to :mod:`planfeed.feeds.engine`; the
module declarations in :mod:`planfeed.feeds.modules` say everything else.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.datastructures import QueryParams

from planfeed.auth.platform import FeedPrefix
from planfeed.feeds import engine
from planfeed.feeds.errors import FeedError
from planfeed.feeds.modules import REGISTRY
from planfeed.feeds.registry import Access, Module
from planfeed.http.deps import FeedsPrincipal, FeedsSession, StateDep
from planfeed.http.responses import OrjsonResponse

router = APIRouter(tags=["feeds"])

ModuleName = Annotated[
    str,
    Path(
        description="A module name, any case: " + ", ".join(REGISTRY.names()),
        examples=["coursedate"],
    ),
]
RecordId = Annotated[int, Path(description="The record's ID, e.g. 2024.")]

_RECORD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A JSON object of field names (any case) and values; see the module's "
        "help (/{prefix}/apihelp/v2/modules/{module}) for the fields.",
        "content": {
            "application/json": {
                "schema": {"type": "object", "additionalProperties": True},
                "example": {
                    "CourseID": "FirAid",
                    "Label": "First Aid, March",
                    "StartDate": "2025-03-01T09:00:00",
                    "EndDate": "2025-03-01T17:00:00",
                },
            }
        },
    }
}


def _module(name: str) -> Module:
    module = REGISTRY.get(name)
    if module is None:
        raise FeedError(
            404,
            "unknown_module",
            f"there is no module {name!r}; the modules are: {', '.join(REGISTRY.names())}",
        )
    return module


def query_params(request: Request) -> QueryParams:
    """The query string with repeats kept, so the query parser can refuse a repeated option."""
    return request.query_params


async def json_body(request: Request, state: StateDep) -> Any:
    """The request's JSON document, read with the configured size limit."""
    limit = state.settings.max_body_bytes
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise FeedError(413, "body_too_large", f"the body is larger than {limit} bytes")
    if not raw.strip():
        raise FeedError(
            400, "invalid_body", "the body is empty; send a JSON object of fields and values"
        )
    try:
        return orjson.loads(bytes(raw))
    except orjson.JSONDecodeError as exc:
        raise FeedError(400, "invalid_body", f"the body is not valid JSON: {exc}") from None


Params = Annotated[QueryParams, Depends(query_params)]
JsonBody = Annotated[Any, Depends(json_body)]

_LIST_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": '`{"results": [...]}`, plus `pageIndex`, `pageSize` and `totalCount` '
        "with `$count=true`."
    },
    400: {"description": "A query option is wrong: `errors` names the option, position, field."},
    401: {
        "description": "Missing or invalid credentials, or a credential of another "
        "environment or platform."
    },
    403: {"description": "The caller's role may not read this module."},
    404: {"description": "No such module."},
}


@router.get("/{prefix}/api/v2/{module}", responses=_LIST_DOC)
def list_records(
    prefix: FeedPrefix,
    module: ModuleName,
    params: Params,
    session: FeedsSession,
    principal: FeedsPrincipal,
) -> OrjsonResponse:
    """Records of a module: `$filter`, `$select`, `$orderby`, `$top` (≤ 1000, default 50),
    `$skip` (a page number) and `$count`. See docs/feeds-api.md."""
    return OrjsonResponse(engine.read_page(session, principal, _module(module), params))


@router.get("/{prefix}/api/v2/{module}/{record_id}")
def get_record(
    prefix: FeedPrefix,
    module: ModuleName,
    record_id: RecordId,
    params: Params,
    session: FeedsSession,
    principal: FeedsPrincipal,
) -> OrjsonResponse:
    """One record (404 when it does not exist or the caller may not see it)."""
    return OrjsonResponse(engine.read_one(session, principal, _module(module), record_id, params))


def _created(prefix: FeedPrefix, module: Module, new_id: int, extra: dict[str, Any]) -> Response:
    return OrjsonResponse(
        {"ID": new_id, module.id_field: new_id, **extra},
        status_code=201,
        headers={"Location": f"/{prefix.value}/api/v2/{module.name}/{new_id}"},
    )


@router.post(
    "/{prefix}/api/v2/{module}",
    status_code=201,
    openapi_extra=_RECORD_BODY,
    responses={
        200: {"description": "`$upsert`: the one matching record was updated; the record."},
        201: {
            "description": 'Created: `{"ID": 2024, "<Module>ID": 2024}` and a Location '
            "header (an apikey answer also carries the key, shown only here)."
        },
        400: {
            "description": "A field is unknown, read-only, of the wrong type, too long, "
            "missing or refers to nothing; or `$upsert` matches several records."
        },
        403: {"description": "The caller may not write to this module or record."},
        409: {"description": "The write clashes with existing data (a full course date …)."},
    },
)
def create_record(
    prefix: FeedPrefix,
    module: ModuleName,
    params: Params,
    body: JsonBody,
    state: StateDep,
    session: FeedsSession,
    principal: FeedsPrincipal,
) -> Response:
    """Create a record, or with `$upsert=<filter>` update the one record the filter matches
    (200) or create one (201); several matches are a 400 and change nothing."""
    found = _module(module)
    secret = state.settings.secret_key
    options = [(k, v) for k, v in params.multi_items() if k.startswith("$")]
    if any(k.lower() != "$upsert" for k, _ in options) or len(options) > 1:
        raise FeedError(
            400,
            "invalid_query",
            "a POST takes one query option, $upsert=<filter>; "
            f"got {', '.join(k for k, _ in options)}",
        )
    upsert_filter = options[0][1] if options else None
    if upsert_filter is None:
        new_id, extra = engine.create(session, principal, REGISTRY, found, body, secret)
        return _created(prefix, found, new_id, extra)
    created, record_id, extra = engine.upsert(
        session, principal, REGISTRY, found, upsert_filter, body, secret
    )
    if created:
        return _created(prefix, found, record_id, extra)
    return OrjsonResponse(engine.read_one(session, principal, found, record_id))


@router.put("/{prefix}/api/v2/{module}/{record_id}", openapi_extra=_RECORD_BODY)
def update_record(
    prefix: FeedPrefix,
    module: ModuleName,
    record_id: RecordId,
    body: JsonBody,
    state: StateDep,
    session: FeedsSession,
    principal: FeedsPrincipal,
) -> OrjsonResponse:
    """Change only the fields sent; answers the whole record."""
    found = _module(module)
    engine.update(session, principal, REGISTRY, found, record_id, body, state.settings.secret_key)
    return OrjsonResponse(engine.read_one(session, principal, found, record_id))


@router.delete("/{prefix}/api/v2/{module}/{record_id}")
def delete_record(
    prefix: FeedPrefix,
    module: ModuleName,
    record_id: RecordId,
    state: StateDep,
    session: FeedsSession,
    principal: FeedsPrincipal,
) -> Response:
    """Delete a record. A user is first marked Deleted (200 with the record), and removed by a
    second DELETE (204). 409 when other data still refers to the record."""
    found = _module(module)
    removed = engine.delete(
        session, principal, REGISTRY, found, record_id, state.settings.secret_key
    )
    if removed:
        return Response(status_code=204)
    return OrjsonResponse(engine.read_one(session, principal, found, record_id))


# --- module help -----------------------------------------------------------------------------


@router.get("/{prefix}/apihelp/v2/modules", tags=["feeds help"])
def list_modules(prefix: FeedPrefix, principal: FeedsPrincipal) -> OrjsonResponse:
    """The modules the caller may use, with their data and help paths."""
    results = []
    for module in REGISTRY.modules:
        access = module.access(principal)
        if access is Access.NONE:
            continue
        results.append(
            {
                "Name": module.name,
                "DisplayName": module.display_name,
                "Aliases": list(module.aliases),
                "Description": module.description,
                "Writable": access is Access.WRITE,
                "Url": f"/{prefix.value}/api/v2/{module.name}",
                "HelpUrl": f"/{prefix.value}/apihelp/v2/modules/{module.display_name}",
            }
        )
    return OrjsonResponse({"results": results})


@router.get("/{prefix}/apihelp/v2/modules/{module}", tags=["feeds help"])
@router.get(
    "/{prefix}/modulesapihelp/v2/modules/{module}",
    tags=["feeds help"],
    description="The same help under the path seed 004's 'Top tip' prints.",
)
def describe_module(
    prefix: FeedPrefix, module: ModuleName, session: FeedsSession, principal: FeedsPrincipal
) -> OrjsonResponse:
    """Every field of a module: type, sortable, filterable, writable, required, maximum length
    and description; custom `CF_` fields included."""
    found = _module(module)
    engine.require_access(principal, found, Access.READ)
    view = engine.load_view(session, found)
    fields = [
        {
            "Name": f.name,
            "DataType": f.type.value,
            "Sortable": f.sortable and f.readable,
            "Filterable": f.filterable and f.readable,
            "Writable": f.writable,
            "Required": f.required,
            "MaxLength": f.max_length,
            "Nullable": f.nullable,
            "Readable": f.readable,
            "Default": f.in_default_select and f.readable,
            "Values": list(f.choices) if f.choices else None,
            "References": f.references,
            "Custom": f.custom,
            "Description": f.description,
        }
        for f in view.fields.values()
    ]
    return OrjsonResponse(
        {
            "Name": found.name,
            "DisplayName": found.display_name,
            "Description": found.description,
            "IdField": found.id_field,
            "results": fields,
        }
    )
