"""The OpenAPI schema itself: generated without a warning and valid OpenAPI 3."""
import io

import pytest
from django.core.management import call_command


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=io.StringIO())
    text = out.read_text()
    assert text.startswith("openapi: 3.0.3\n")
    assert "/api/v1/what-if/:" in text and "additionalProperties: false" in text


@pytest.mark.parametrize("path", ["/api/v1/proposals/", "/api/v1/positions/upsert/", "/api/v1/what-if/"])
def test_request_bodies_are_json_only(path, tmp_path):
    import yaml

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out), stderr=io.StringIO())
    operation = yaml.safe_load(out.read_text())["paths"][path]["post"]
    assert list(operation["requestBody"]["content"]) == ["application/json"]


@pytest.mark.django_db
@pytest.mark.parametrize("path, accept", [("/api/v1/docs/", "application/json"),
                                          ("/api/v1/schema/", "text/html")])
def test_the_schema_and_its_page_answer_errors_in_the_one_json_shape(client, path, accept):
    response = client.get(path, HTTP_ACCEPT=accept)
    assert (response.status_code, response["Content-Type"], response.json()) == (
        406, "application/json", {"code": "not_acceptable",
                                  "message": "Could not satisfy the request Accept header.", "details": None})


@pytest.mark.django_db
def test_the_schema_and_its_page_are_public_documentation(client):
    schema = client.get("/api/v1/schema/")
    assert (schema.status_code, schema.content[:15]) == (200, b"openapi: 3.0.3\n")
    docs = client.get("/api/v1/docs/")
    assert (docs.status_code, docs["Content-Type"]) == (200, "text/html; charset=utf-8")
