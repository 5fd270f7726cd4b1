"""The API description covers every endpoint and error the code has."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_covers_every_api_route(
    app: Flask, client: FlaskClient
) -> None:
    response = client.get("/api/openapi.json")
    spec = response.get_json()

    assert response.status_code == 200
    validate(spec)
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    routed = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)  # <int:id> is {id}
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routed == documented


def test_every_error_response_uses_the_error_shape(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")):
                    ref = (
                        response.get("$ref")
                        or response["content"]["application/json"]["schema"]["$ref"]
                    )
                    assert ref.endswith(("/Error", "/Unauthorized", "/NotFound", "/BadRequest")), (
                        path,
                        method,
                        code,
                    )
