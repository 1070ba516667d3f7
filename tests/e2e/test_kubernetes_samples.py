"""samples/kubernetes/ checked structurally: the manifests parse, the configuration in each ConfigMap
loads with microgw's own loader under the environment its Deployment gives it (Secrets included),
the probes and the Prometheus annotations name endpoints the gateway serves on the port it listens
on, mounts match the paths the environment names, and sidecars reach the parent by its Service;
parent.yaml and sidecar.yaml also run as real processes, the sidecar downloading from the parent."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from microgw.endpoints import builtin_routes
from microgw.keys.passwords import verify_password
from microgw.startup import Assembly
from support.gateway import REPO

K8S = REPO / "samples" / "kubernetes"


def manifests() -> dict[tuple[str, str], dict]:
    found = {}
    for file in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            assert doc["apiVersion"] and doc["metadata"]["name"], file
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def gateway_paths() -> set[str]:
    class Host:  # the route table needs no running gateway
        pass

    return {route.path for route in builtin_routes(Host())}


def environment(container: dict, docs: dict) -> dict[str, str]:
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = docs[("Secret", ref["name"])]["stringData"][ref["key"]]
    return env


def config_map_file(path: Path, mounts: dict, volumes: dict, docs: dict) -> str:
    """The text of the file at ``path`` in the container: the ConfigMap mounted at its folder."""
    volume = volumes[mounts[str(path.parent)]]
    return docs[("ConfigMap", volume["configMap"]["name"])]["data"][path.name]


def load_container_config(container: dict, pod: dict, docs: dict, tmp_path: Path):
    """The settings this container would start with: its ConfigMap file, its environment."""
    env = environment(container, docs)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    config_path = Path(env["MICROGW_CONFIG"])
    text = config_map_file(config_path, mounts, volumes, docs)
    file = tmp_path / container["name"] / config_path.name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)
    local = {**env, "mcgw_state_dir": str(tmp_path / "state")}  # the mount itself is checked by the caller
    return Assembly([file], environ=local).load(), env, mounts, volumes


def microgw_container(deployment: dict) -> tuple[dict, dict]:
    pod = deployment["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["image"].rsplit("/", 1)[-1].startswith("microgw:")), pod


def check_gateway_container(deployment: dict, docs: dict, tmp_path: Path):
    container, pod = microgw_container(deployment)
    loaded, env, mounts, volumes = load_container_config(container, pod, docs, tmp_path)
    settings = loaded.settings
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert settings.server.http_port in ports.values()
    served = gateway_paths()
    for probe, path in (("livenessProbe", "/rest/microgateway/health"), ("readinessProbe", "/rest/microgateway/ready")):
        get = container[probe]["httpGet"]
        assert get["path"] == path and path in served
        assert ports[get["port"]] == settings.server.http_port
    state = mounts[env["mcgw_state_dir"]]  # the state directory is a volume, not the container's disk
    assert "emptyDir" in volumes[state] or "persistentVolumeClaim" in volumes[state]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    return settings, loaded


def test_parent_deployment_config_and_service(tmp_path):
    docs = manifests()
    parent = docs[("Deployment", "microgw-parent")]
    settings, _ = check_gateway_container(parent, docs, tmp_path)
    assert settings.admin is not None and settings.admin.password.startswith("scrypt$")  # from the Secret
    assert settings.issuer is not None and {a.name for a in settings.apis} == {"hello", "orders"}
    claim = parent["spec"]["template"]["spec"]["volumes"]
    assert any(v.get("persistentVolumeClaim", {}).get("claimName") == "microgw-parent-state" for v in claim)
    assert ("PersistentVolumeClaim", "microgw-parent-state") in docs
    service = docs[("Service", "microgw-parent")]
    assert service["spec"]["selector"].items() <= parent["spec"]["template"]["metadata"]["labels"].items()


def test_sidecar_deployment_downloads_from_the_parent_service(tmp_path):
    docs = manifests()
    orders = docs[("Deployment", "orders")]
    settings, loaded = check_gateway_container(orders, docs, tmp_path)
    parent = settings.parent
    assert parent is not None and parent.download and parent.polling_interval
    target = urlsplit(parent.url)
    service = docs[("Service", target.hostname)]
    assert target.port in {p["port"] for p in service["spec"]["ports"]}
    # the credentials the sidecar sends are the ones whose hash the parent keeps
    parent_settings, _ = check_gateway_container(docs[("Deployment", "microgw-parent")], docs, tmp_path / "p")
    assert parent.user == parent_settings.admin.user
    assert verify_password(parent.password, parent_settings.admin.password)
    # Prometheus scrapes the metrics endpoint on the gateway's port, which needs no credentials here
    annotations = orders["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/rest/microgateway/metrics" in gateway_paths()
    assert int(annotations["prometheus.io/port"]) == settings.server.http_port and settings.admin is None
    # the parent's APIs point at the service container beside the sidecar
    pod = orders["spec"]["template"]["spec"]
    app = next(c for c in pod["containers"] if c["name"] == "orders")
    parent_orders = next(a for a in parent_settings.apis if a.name == "orders")
    assert urlsplit(parent_orders.endpoint).port == 8080 and any("127.0.0.1:8080" in a for a in app["args"])


def test_every_sample_has_its_own_state_dir():
    files = [REPO / "samples" / f for f in ("quickstart.yml", "proxy.yml", "claim-sets.yml", "mediation.yml", "fleet/parent.yml", "fleet/sidecar.yml")]
    dirs = [Assembly([f], environ={"mcgw_aliases_petstore_value": "http://127.0.0.1:1"}).load().settings.state_dir for f in files]
    assert len(set(dirs)) == len(files), dirs


def container_config_text(docs: dict, deployment: str) -> tuple[str, dict[str, str]]:
    """The config file and the environment the Deployment's microgw container starts with."""
    container, pod = microgw_container(docs[("Deployment", deployment)])
    env = environment(container, docs)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    text = config_map_file(Path(env.pop("MICROGW_CONFIG")), mounts, {v["name"]: v for v in pod["volumes"]}, docs)
    env.pop("mcgw_state_dir")  # the volume: each test process gets its own state directory
    return text, env


async def test_parent_yaml_and_sidecar_yaml_run_as_a_fleet(gateway, client):
    """Both manifests' gateways as real processes: the sidecar (sidecar.yaml) downloads the parent's
    (parent.yaml) APIs with the Secret's credentials and serves them under the parent's rules."""
    docs = {}
    for name in ("parent.yaml", "sidecar.yaml"):
        docs.update({(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all((K8S / name).read_text())})
    parent_text, parent_env = container_config_text(docs, "microgw-parent")
    parent = await gateway(parent_text, env=parent_env)
    sidecar_text, sidecar_env = container_config_text(docs, "orders")
    service = "http://microgw-parent:4485"  # the parent's Service: here, the parent process on loopback
    assert service in sidecar_text
    sidecar = await gateway(sidecar_text.replace(service, parent.http), env=sidecar_env)
    await sidecar.wait_for_log(r"downloaded the settings of the parent")
    async with client.get(f"{sidecar.http}/rest/microgateway/assets") as resp:
        assert {(a["name"], a["version"]) for a in (await resp.json())["apis"]} == {("hello", "1.0"), ("orders", "1.0")}
    async with client.get(f"{sidecar.http}/gateway/hello/1.0/") as resp:
        assert resp.status == 401 and "Bearer" in resp.headers["WWW-Authenticate"]  # the parent's jwt policy
    async with client.get(f"{sidecar.http}/gateway/orders/1.0/", headers={"x-Gateway-APIKey": "wrong"}) as resp:
        assert resp.status in (401, 403)  # the parent's applications decide
