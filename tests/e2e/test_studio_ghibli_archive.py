"""A StudioGhibliAPI-shaped archive (the vendor's quick-start API: response data masking on two scopes)
loads without skipping anything and masks what each scope says, and nothing elsewhere."""

from __future__ import annotations

import json

from support.vendor_archive import action, api_doc, g, routing, scope, v, vendor_archive

FILMS = [{"id": "2baf70d1", "title": "Castle in the Sky", "director": "Hayao Miyazaki", "producer": "Isao Takahata", "rt_score": "95"}]
PEOPLE = [{"id": "ba924631", "name": "Ashitaka", "gender": "Male", "age": "late teens", "eye_color": "Brown"}]
LOCATIONS = [{"id": "11014596", "name": "Irontown", "climate": "Continental"}]


def masking(*criteria: tuple[str, str, str | None]) -> dict:
    groups = [g("maskingCriteria", v("action", path), v("maskingType", kind), *([v("maskValue", mask)] if mask else [])) for path, kind, mask in criteria]
    return action("responseDataMasking", g("jpathMasking", *groups), v("applyForPayload", "true"), v("sameForTransactionalLogging", "true"), name="Data Masking")


def ghibli_archive() -> bytes:
    paths = {p: {"get": {"responses": {"200": {"description": "OK"}}}} for p in ("/films", "/films/{id}", "/people", "/locations")}
    doc = api_doc(
        "StudioGhibliAPI",
        "1.0",
        id="ghibli-id",
        apiDefinition={"info": {"title": "StudioGhibliAPI", "version": "1.0"}, "paths": paths, "type": "rest"},
        nativeEndpoint=[{"uri": "https://ghibliapi.example.com", "passSecurityHeaders": True, "connectionTimeoutDuration": 0}],
        scopes=[
            scope("FilmsScope", "policy-films", ("/films", ["GET"]), ("/films/{id}", ["GET"])),
            scope("PeopleScope", "policy-people", ("/people", ["GET"])),
        ],
    )
    scoped = {
        "policy-films": [masking(("$[*].director", "Mask", "*****"), ("$.director", "Mask", "*****"))],
        "policy-people": [masking(("$[*].age", "Filter", None))],
    }
    return vendor_archive((doc, [routing("https://ghibliapi.example.com/doc/${sys:resource_path}")], scoped))


async def test_studio_ghibli_archive_masks_on_its_two_scopes(gateway, upstream, client, tmp_path):
    upstream.documents.update(
        {
            "films": ("application/json", json.dumps(FILMS).encode()),
            "films/2baf70d1": ("application/json", json.dumps(FILMS[0]).encode()),
            "people": ("application/json", json.dumps(PEOPLE).encode()),
            "locations": ("application/json", json.dumps(LOCATIONS).encode()),
        }
    )
    (tmp_path / "ghibli.zip").write_bytes(ghibli_archive())
    gw = await gateway({"endpoint_rewrites": {"https://ghibliapi.example.com": upstream.url}}, args=("-a", str(tmp_path / "ghibli.zip")))
    assert "dropped" not in gw.log and "not supported" not in gw.log, gw.log
    base = f"{gw.http}/gateway/StudioGhibliAPI/1.0"
    async with client.get(base + "/films") as resp:
        assert resp.status == 200
        assert await resp.json() == [{**FILMS[0], "director": "*****"}]
    async with client.get(base + "/films/2baf70d1") as resp:
        assert await resp.json() == {**FILMS[0], "director": "*****"}
    async with client.get(base + "/people") as resp:
        assert await resp.json() == [{k: val for k, val in PEOPLE[0].items() if k != "age"}]
    async with client.get(base + "/locations") as resp:  # in no scope: unchanged
        assert await resp.json() == LOCATIONS
    assert [r["path_qs"] for r in upstream.received] == ["/doc/films", "/doc/films/2baf70d1", "/doc/people", "/doc/locations"]
