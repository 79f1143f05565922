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
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_flask_path_converters_become_openapi_parameters():
    path, params = openapi_path("/api/v1/jobs/<int:job_id>/files/<name>")
    assert path == "/api/v1/jobs/{job_id}/files/{name}"
    assert params[0] == {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    assert params[1]["schema"] == {"type": "string"}
