"""Exporting every policy unit to a child: each travels as written (files inlined), and whatever
cannot travel whole is refused on export and on import — a child never enforces less than its parent."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import yaml

from microgw.policies.registry import CATALOG
from microgw.sync import archive
from microgw.sync.archive import ArchiveError, build_archive, canonical_api, load_archive

OPENAPI = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/pets": {"get": {"responses": {"200": {"description": "ok"}}}}}}

MEDIATION = {
    "cors": {"allowed_origins": ["https://app.example.com"], "allow_credentials": True, "max_age": 60},
    "requestDataMasking": {"json": [{"path": "$.password", "action": "filter"}], "regex": [{"pattern": "secret-\\w+", "mask": "[x]"}]},
    "responseDataMasking": {
        "json": [{"path": "$.card.number", "mask": "XXXX"}],
        "xml": [{"path": "//b:card"}],
        "namespaces": {"b": "urn:bank"},
        "applications": [{"ids": ["partner"], "json": [{"path": "$.card", "action": "filter"}]}],
    },
    "requestTransformation": {"headers": {"set": {"X-Tenant": "${request.headers.X-Org}"}}, "query": {"remove": ["debug"]}, "path": "/v2${request.path}"},
    "responseTransformation": {"status": 202, "json": {"remove": ["$.internal"]}},
    "setMediaType": {"content_type": "application/json", "accept": "application/json"},
    "validateAPISpec": {"definition": OPENAPI, "responses": True},
}


def api_with(policies: dict, name: str = "mediated") -> dict:
    return {"name": name, "version": "1", "endpoint": "http://127.0.0.1:9/base", "policies": policies}


def edited(data: bytes, change) -> bytes:
    """The archive with ``change(document)`` applied to each API document (as another exporter might write it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as out:
        for name in source.namelist():
            body = source.read(name)
            if name.startswith("API/") and name.count("/") == 2:
                document = json.loads(body)
                change(document)
                body = json.dumps(document).encode()
            out.writestr(name, body)
    return buffer.getvalue()


def test_every_mediation_policy_and_scope_travels_as_written():
    scopes = [
        {"name": "public", "resources": ["/public/**"], "policies": {"jwt": {"required": False}, "responseDataMasking": {"json": [{"path": "$.card", "action": "filter"}]}}},
        {"name": "write", "resources": ["/pets"], "methods": ["POST"], "policies": {"identify": {"rules": ["apiKey"]}, "requestTransformation": {"method": "PUT"}}},
    ]
    api = api_with({"jwt": {}, **MEDIATION, "scopes": scopes})
    assert load_archive(build_archive([api])).apis == [canonical_api(api)]
    assert set(MEDIATION) | {"jwt", "scopes"} <= set(CATALOG)


def test_a_spec_file_travels_inline(tmp_path):
    (tmp_path / "pets.yaml").write_text(yaml.safe_dump(OPENAPI))
    spec = {"spec": str(tmp_path / "pets.yaml"), "query": False}
    scoped = [{"name": "s", "resources": ["/x"], "policies": {"validateAPISpec": spec}}]
    [loaded] = load_archive(build_archive([api_with({"validateAPISpec": spec, "scopes": scoped})])).apis
    assert loaded["policies"]["validateAPISpec"] == {"definition": OPENAPI, "query": False}
    assert loaded["policies"]["scopes"][0]["policies"]["validateAPISpec"] == {"definition": OPENAPI, "query": False}
    (tmp_path / "pets.yaml").unlink()
    with pytest.raises(ArchiveError, match=r"'mediated' version '1': not exported: policy validateAPISpec: cannot read the API definition .*pets\.yaml"):
        build_archive([api_with({"validateAPISpec": spec})])


def test_an_export_that_would_arrive_weaker_is_refused(monkeypatch):
    """The read-back check: whatever the exporter fails to carry (here: it forgets cors) refuses the API."""
    extension = archive._extension

    def forgetful(api):
        out = extension(api)
        out["policies"].pop("cors", None)
        return out

    monkeypatch.setattr(archive, "_extension", forgetful)
    with pytest.raises(ArchiveError, match=r"API 'mediated' version '1': not exported: policies.cors would not reach a child as configured"):
        build_archive([api_with({"cors": MEDIATION["cors"]})])
    build_archive([api_with({"cors": MEDIATION["cors"]})], verify=False)  # what would have gone out


def test_a_child_refuses_a_policy_it_does_not_know():
    data = edited(build_archive([api_with({"cors": MEDIATION["cors"]})]), lambda d: d["microgwExtensions"]["policies"].update(quota={"per_minute": 5}))
    with pytest.raises(ArchiveError, match=r"'mediated' version '1': microgwExtensions.policies: policy 'quota' .* is not supported by microgw"):
        load_archive(data)
    content = load_archive(data, skip_unsupported=True)  # skipping fails closed: the API is not loaded
    assert content.apis == []
    assert any("'mediated'" in w and "cannot be skipped" in w for w in content.warnings), content.warnings


def test_a_child_refuses_an_extension_format_it_cannot_read():
    data = edited(build_archive([api_with({"cors": MEDIATION["cors"]})]), lambda d: d["microgwExtensions"].update(format=2))
    with pytest.raises(ArchiveError, match=r"microgwExtensions: format 2 \(this microgw reads format 1\)"):
        load_archive(data)
    assert load_archive(data, skip_unsupported=True).apis == []
