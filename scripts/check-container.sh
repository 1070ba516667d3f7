#!/bin/sh
# Build the microgw image with podman or docker (whichever works here) and check it as a user would:
#   - `microgw --version` inside the image prints the version of this source tree;
#   - the image carries the HEALTHCHECK (podman needs --format docker for that);
#   - a container started on samples/quickstart.yml the documented way becomes healthy, answers
#     /rest/microgateway/health, and keeps its signing key in the state volume across re-creation.
# Run by hand from the repository root:  sh scripts/check-container.sh
# Exit codes: 0 all checks passed, 1 a check failed, 3 no usable container engine.
set -eu

cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/microgw-check:latest}
NAME=microgw-check-$$
VOLUME=microgw-check-state-$$
PORT=${PORT:-14485}

ENGINE=""
for candidate in ${ENGINE_CANDIDATES:-podman docker}; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" info >/dev/null 2>&1; then
        ENGINE=$candidate
        break
    fi
done
if [ -z "$ENGINE" ]; then
    echo "check-container: no usable container engine (podman or docker with a running daemon); nothing checked" >&2
    exit 3
fi
echo "check-container: using $ENGINE"

fail() { echo "check-container: FAILED: $*" >&2; exit 1; }
cleanup() {
    "$ENGINE" rm -f "$NAME" >/dev/null 2>&1 || true
    "$ENGINE" volume rm -f "$VOLUME" >/dev/null 2>&1 || true
}
trap cleanup EXIT

FORMAT=""
[ "$ENGINE" = podman ] && FORMAT="--format docker"   # OCI images have no HEALTHCHECK
# shellcheck disable=SC2086
"$ENGINE" build $FORMAT -t "$IMAGE" -f Containerfile . || fail "build"

expected=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' microgw/__init__.py)
version=$("$ENGINE" run --rm "$IMAGE" --version) || fail "microgw --version"
[ "$version" = "microgw $expected" ] || fail "--version said '$version', expected 'microgw $expected'"
echo "ok: $version"

health=$("$ENGINE" image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
case "$health" in *'"microgw","health"'*|*'microgw health'*) echo "ok: HEALTHCHECK $health" ;; *) fail "no HEALTHCHECK in the image: $health" ;; esac

start() {
    "$ENGINE" run -d --name "$NAME" -p "127.0.0.1:$PORT:4485" \
        -v "$PWD/samples:/config:ro" -v "$VOLUME:/var/lib/microgw/state" \
        -e MICROGW_CONFIG=/config/quickstart.yml "$IMAGE" >/dev/null || fail "run on samples/quickstart.yml"
    i=0
    until [ "$("$ENGINE" exec "$NAME" microgw health >/dev/null 2>&1 && echo up)" = up ]; do
        i=$((i + 1)); [ $i -le 60 ] || { "$ENGINE" logs "$NAME" >&2; fail "never healthy"; }
        sleep 0.5
    done
}
kid() { "$ENGINE" exec "$NAME" python -c "import json,urllib.request; print(json.load(urllib.request.urlopen('http://127.0.0.1:4485/rest/pub/apigateway/jwt/certs'))['keys'][0]['kid'])"; }

start
echo "ok: 'microgw health' inside the container (the port comes from the configuration)"
"$ENGINE" exec "$NAME" microgw health --ready >/dev/null 2>&1 || fail "readiness"
first=$(kid)
"$ENGINE" rm -f "$NAME" >/dev/null
start
second=$(kid)
[ "$first" = "$second" ] || fail "the signing key changed with a new container ($first -> $second): is the state volume used?"
echo "ok: the signing key $first survived re-creating the container (state volume)"
sleep 16  # one HEALTHCHECK interval: the engine's own view of the container
status=$("$ENGINE" inspect --format '{{.State.Health.Status}}' "$NAME" 2>/dev/null || echo unknown)
[ "$status" = healthy ] || fail "the engine reports health '$status'"
echo "ok: the engine reports the container healthy"
echo "check-container: all checks passed"
