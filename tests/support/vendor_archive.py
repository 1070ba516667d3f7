"""Archives in the webMethods API Gateway export layout, built with zipfile (independent of microgw's exporter)."""

from __future__ import annotations

import io
import json
import zipfile

STAGES = {
    "entryProtocolPolicy": "transport",
    "evaluatePolicy": "IAM",
    "straightThroughRouting": "routing",
    "outboundTransportAuthentication": "routing",
    "cors": "transport",
    "setMediaType": "transport",
    "requestDataMasking": "requestProcessing",
    "requestTransformation": "requestProcessing",
    "validateAPISpec": "requestProcessing",
    "responseDataMasking": "responseProcessing",
    "responseTransformation": "responseProcessing",
}
ROUTING_URI = "https://prod.example.com/petstore/${sys:resource_path}"


def v(key: str, *values) -> dict:
    return {"templateKey": key, "values": list(values)}


def g(key: str, *children: dict) -> dict:
    return {"templateKey": key, "parameters": list(children)}


def action(template: str, *parameters: dict, name: str | None = None, stage: str | None = None) -> dict:
    """``stage``: the policy stage it is filed under (default: the vendor's stage of the template; ``LMT`` for others)."""
    found = {"names": [{"value": name or f"{template} action", "locale": "en"}], "templateKey": template, "parameters": list(parameters), "active": False}
    if stage:
        found["stage"] = stage  # read by vendor_archive, not written into the action
    return found


def routing(uri: str = ROUTING_URI, *extra: dict) -> dict:
    return action("straightThroughRouting", v("endpointUri", uri), v("method", "CUSTOM"), *extra, name="Straight Through Routing")


def protocols(*names: str) -> dict:
    return action("entryProtocolPolicy", v("protocol", *names), name="Enable HTTP / HTTPS")


def identify(*rules: tuple[str, str], connector: str = "OR", anonymous: str = "false") -> dict:
    groups = [g("IdentificationRule", v("applicationLookup", lookup), v("identificationType", kind)) for kind, lookup in rules]
    return action("evaluatePolicy", v("logicalConnector", connector), v("allowAnonymous", anonymous), *groups, name="Identify & Authorize Application")


def outbound(*settings: dict) -> dict:
    return action("outboundTransportAuthentication", g("transportSecurity", *settings), name="Outbound Authentication - Transport")


def api_doc(name: str = "Petstore", version: str = "1.0", **fields) -> dict:
    doc = {
        "apiDefinition": {"info": {"title": name, "version": version}, "paths": {}, "type": "rest"},
        "nativeEndpoint": [{"passSecurityHeaders": True, "uri": "https://prod.example.com/petstore", "connectionTimeoutDuration": 0, "alias": False}],
        "apiName": name,
        "apiVersion": version,
        "isActive": True,
        "type": "REST",
        "scopes": [],
        "systemVersion": 1,
    }
    doc.update(fields)
    return doc


def scope(name: str, policy_id: str, *resources: tuple[str, list[str]]) -> dict:
    """A scope of an API JSON: its resources (path, methods) and the id of its policy."""
    return {"name": name, "description": "", "resources": [{"resourcePath": path, "methods": methods} for path, methods in resources], "policies": [policy_id]}


def vendor_archive(
    *apis: tuple,
    manifest: bool = True,
    extra: dict[str, bytes] | None = None,
    wrap_api=None,
    scopes: dict[int, dict[str, list[dict]]] | None = None,
    registrations: dict[int, list[str]] | None = None,
    assets_of: dict[str, list[dict]] | None = None,
) -> bytes:
    """Each API is (API JSON, its policy actions[, {scope policy id: its actions}]); ids are made up
    like the vendor's (one policy per API, one per scope).

    ``scopes``: API index -> {scope name: actions}: scopes without ``resources`` (the API definition's
    ``paths`` name them), each with its own policy (without actions when the scope has none, as the
    vendor makes one per scope). ``registrations``: API index -> the application ids registered for it
    (``RegisteredApplication`` objects in the API's folder). ``assets_of``: other asset kinds
    (``Alias``, ``Application``, ``Strategy``, ``PassmanData``) -> their JSON objects, each written as
    ``<Kind>/<Kind>.<id>/<Kind>.<id>``.
    """
    files: dict[str, bytes] = {}
    assets = []
    for i, (doc, actions, *more) in enumerate(apis):
        api_id, policy_id = doc.get("id", f"api-{i}"), f"policy-{i}"
        doc = {**doc, "id": api_id, "policies": doc.get("policies", [policy_id])}
        for scope_policy, scope_actions in (more[0] if more else {}).items():
            _policy_files(files, assets, f"API/API.{api_id}/Policy/Policy.{scope_policy}", scope_policy, f"{i}-{scope_policy}", scope_actions, f"Scope policy {scope_policy}")
        named = []
        for k, (scope_name, scope_actions) in enumerate(((scopes or {}).get(i) or {}).items()):
            scope_policy = f"scope-policy-{i}-{k}"
            _policy_files(files, assets, f"API/API.{api_id}/Policy/Policy.{scope_policy}", scope_policy, f"{i}-{k}", scope_actions, f"Scope Policy for {scope_name}")
            named.append({"name": scope_name, "description": "", "policies": [scope_policy]})
        if named:
            doc["scopes"] = [*doc.get("scopes", []), *named]
        folder = f"API/API.{api_id}/Policy/Policy.{policy_id}"
        _policy_files(files, assets, folder, policy_id, str(i), actions, f"Default Policy for API {doc.get('apiName', '?')}", scope_policy=False)
        for app_ids in [(registrations or {}).get(i)] if (registrations or {}).get(i) else []:
            reg_id = f"registration-{i}"
            files[f"API/API.{api_id}/RegisteredApplication/RegisteredApplication.{reg_id}"] = json.dumps({"id": reg_id, "applicationIds": app_ids}).encode()
            assets.append(f"RegisteredApplication.{reg_id}")
        files[f"API/API.{api_id}/API.{api_id}"] = json.dumps(wrap_api(doc) if wrap_api else doc, indent=2).encode()
        assets.append(f"API.{api_id}")
    for kind, docs in (assets_of or {}).items():
        for doc in docs:
            files[f"{kind}/{kind}.{doc['id']}/{kind}.{doc['id']}"] = json.dumps(doc, indent=2).encode()
            assets.append(f"{kind}.{doc['id']}")
    if manifest:
        body = "".join(f'<asset name="{a}" displayName="{a}" isDeployable="true"><implementation.generic type="{a.split(".")[0]}"/></asset>' for a in assets)
        files["APIGatewayAssets.acdl"] = f'<?xml version="1.0" encoding="UTF-8"?><asset_composite xmlns="http://namespaces.softwareag.com/acdl/1.0" name="APIGatewayAssets">{body}</asset_composite>'.encode()
    files["ExportReport.json"] = json.dumps([{"assetType": "API", "assetObject": {"name": "x", "id": "api-0", "status": "Success", "explanation": "OK"}}]).encode()
    files.update(extra or {})
    return zip_of(files)


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in files.items():
            out.writestr(name, data)
    return buffer.getvalue()


def _policy_files(files: dict, assets: list, folder: str, policy_id: str, prefix: str, actions: list[dict], name: str, *, scope_policy: bool = True) -> None:
    """One policy and its actions, each filed under its stage (an action's ``stage``, else the template's)."""
    stages: dict[str, list] = {}
    for j, act in enumerate(actions):
        action_id = f"action-{prefix}-{j}"
        stage = act.get("stage") or STAGES.get(act["templateKey"], "LMT")
        body = {k: w for k, w in act.items() if k != "stage"}
        files[f"{folder}/PolicyAction/PolicyAction.{action_id}"] = json.dumps({"id": action_id, **body}).encode()
        stages.setdefault(stage, []).append({"enforcementObjectId": action_id, "order": str(len(stages.get(stage, [])))})
        assets.append(f"PolicyAction.{action_id}")
    policy = {
        "id": policy_id,
        "names": [{"value": name, "locale": "English"}],
        "policyEnforcements": [{"enforcements": e, "stageKey": s} for s, e in stages.items()],
        "policyScope": "SCOPE" if scope_policy else "SERVICE",
        "active": False,
        "global": False,
    }
    files[f"{folder}/Policy.{policy_id}"] = json.dumps(policy).encode()
    assets.append(f"Policy.{policy_id}")


def scoped_doc() -> dict:
    """Scopes as the vendor's API definition names them: on a path (every method) or on one operation."""
    doc = api_doc(id="api-s")
    doc["apiDefinition"]["paths"] = {
        "/admin": {"scopes": ["Admin"], "get": {"scopes": []}},
        "/pets": {"get": {"scopes": []}, "post": {"scopes": ["Writers"]}},
        "/public": {"get": {"scopes": []}},
    }
    return doc


def scoped_archive(upstream: str = "https://prod.example.com/petstore") -> bytes:
    """An API with an Admin scope (path /admin), a Writers scope (POST /pets) and an Empty one."""
    return vendor_archive(
        (scoped_doc(), [routing(f"{upstream}/${{sys:resource_path}}")]),
        scopes={0: {"Admin": [identify(("apiKey", "open"))], "Writers": [identify(("httpBasicAuth", "open"))], "Empty": []}},
    )
