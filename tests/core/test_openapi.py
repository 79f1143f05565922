from app.core.openapi import build_document, is_documented, openapi_path


def test_every_api_route_is_in_the_document(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not is_documented(rule.rule):
            continue
        path, _ = openapi_path(rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, f"{method} {rule.rule} is not in the OpenAPI document"


def test_every_api_view_declares_its_schema(app):
    undeclared = [rule.rule for rule in app.url_map.iter_rules()
                  if is_documented(rule.rule) and not hasattr(app.view_functions[rule.endpoint], "api_spec")]
    assert undeclared == []


def test_document_references_resolve(app):
    with app.app_context():
        document = build_document(app)
    schemas = document["components"]["schemas"]

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref:
                assert ref.startswith("#/components/schemas/")
                assert ref.rsplit("/", 1)[1] in schemas, ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert document["paths"]["/readyz"]["get"]["responses"]["503"]


def test_docs_page_is_browsable_offline(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"/api/v1/openapi.json" in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]  # no inline script, no CDN
    assert client.get("/api/v1/docs/assets/docs-init.js").status_code == 200
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_flask_path_converters_become_openapi_parameters():
    path, params = openapi_path("/api/v1/jobs/<int:job_id>/files/<name>")
    assert path == "/api/v1/jobs/{job_id}/files/{name}"
    assert params[0] == {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    assert params[1]["schema"] == {"type": "string"}


# --- issue #18: a document the mini-program's developers can code against ----------------------------

import pytest  # noqa: E402
from jsonschema import Draft202012Validator  # noqa: E402
from openapi_spec_validator import validate as validate_spec  # noqa: E402
from referencing import Registry, Resource  # noqa: E402
from referencing.jsonschema import DRAFT202012  # noqa: E402

from app.core.api import endpoint  # noqa: E402
from app.core.errors import Conflict  # noqa: E402
from tests.conftest import make_app  # noqa: E402


@pytest.fixture(scope="module")
def document(app):
    with app.app_context():
        return build_document(app)


def operations(document):
    for path, ops in document["paths"].items():
        for method, operation in ops.items():
            yield path, method, operation


def test_the_document_passes_openapi_spec_validator(document):
    validate_spec(document)  # raises with the first problem: duplicate operationIds, bad refs, bad schemas


def test_operation_ids_are_unique_and_the_wechat_push_answers_text(document):
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    push = document["paths"]["/api/v1/wechat/push"]
    assert {push["get"]["operationId"], push["post"]["operationId"]} == {"wechat_push_wechat_push_get",
                                                                        "wechat_push_wechat_push_post"}
    assert list(push["post"]["responses"]["200"]["content"]) == ["text/plain"]


def test_the_upload_documents_its_multipart_body(document):
    body = document["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]["multipart/form-data"]
    schema = document["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"file", "declaration"}
    assert schema["properties"]["declaration"]["enum"] == ["own_face", "subject_consented"]
    assert schema["properties"]["file"]["format"] == "binary"


def test_every_error_response_lists_its_codes_as_an_enum(document):
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if status.startswith(("2", "3")) or path.startswith("/api/v1/payments/"):
                continue  # successes, and 304 (no body)
            error = response["content"]["application/json"]["schema"]["properties"]["error"]
            codes = error["allOf"][1]["properties"]["code"]["enum"]
            assert codes and codes == sorted(set(codes)), (method, path, status)
            assert set(codes) <= set(document["components"]["schemas"]["ErrorCode"]["enum"])
    create_upload = document["paths"]["/api/v1/uploads"]["post"]["responses"]
    assert {"invalid_image", "validation_error"} <= set(create_upload["422"]["content"]["application/json"]
                                                       ["schema"]["properties"]["error"]["allOf"][1]
                                                       ["properties"]["code"]["enum"])
    assert "phone_binding_required" in str(create_upload["403"])
    assert "idempotency_key_reused" in str(create_upload["422"])


def test_every_example_matches_its_schema(document):
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:miaohua:openapi", resource)

    failures = []

    def check(example, pointer: str, where: str) -> None:
        validator = Draft202012Validator({"$ref": f"urn:miaohua:openapi#{pointer}"}, registry=registry)
        failures.extend(f"{where}: {e.message}" for e in validator.iter_errors(example))

    counted = 0
    for path, method, operation in operations(document):
        base = "/paths/" + path.replace("~", "~0").replace("/", "~1") + f"/{method}"
        for index, parameter in enumerate(operation["parameters"]):
            check(parameter["example"], f"{base}/parameters/{index}/schema", f"{method} {path} {parameter['name']}")
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            media_pointer = media_type.replace("~", "~0").replace("/", "~1")
            check(media["example"], f"{base}/requestBody/content/{media_pointer}/schema", f"{method} {path} body")
            counted += 1
        for status, response in operation["responses"].items():
            for media_type, media in response.get("content", {}).items():
                if not status.startswith("2"):
                    continue
                media_pointer = media_type.replace("~", "~0").replace("/", "~1")
                check(media["example"], f"{base}/responses/{status}/content/{media_pointer}/schema",
                      f"{method} {path} {status}")
                counted += 1
    assert not failures, "\n".join(failures)
    assert counted > 60


def test_an_error_the_document_does_not_list_is_caught_by_the_suite():
    app = make_app(OPENAPI_CHECK_ERRORS=True)

    @app.get("/api/v1/test/undeclared")
    @endpoint("An operation that answers a code it does not declare", errors=[(409, "declared")])
    def undeclared():
        raise Conflict(code="surprise")

    response = app.test_client().get("/api/v1/test/undeclared")
    assert response.status_code == 409
    assert app.extensions["openapi_violations"] == ["GET /api/v1/test/undeclared 409 surprise"]


def test_the_job_poll_declares_its_304_and_headers(document):
    operation = document["paths"]["/api/v1/jobs/{job_id}"]["get"]
    assert "content" not in operation["responses"]["304"]  # no body
    assert {"ETag", "Retry-After"} <= set(operation["responses"]["200"]["headers"])
    assert {"ETag", "Retry-After"} <= set(operation["responses"]["304"]["headers"])
    assert any(p["name"] == "If-None-Match" and p["in"] == "header" for p in operation["parameters"])
    job = document["components"]["schemas"]["JobOut"]
    assert "next_poll_after_s" in job["properties"]
