"""The Containerfile as documented (the image itself is built by scripts/check-container.sh, by hand):
a pinned base, the state in a volume, the health check through `microgw health` (no port written
into it), and the documented run line naming a configuration that exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXT = (REPO / "Containerfile").read_text()


def instructions(name: str) -> list[str]:
    found = re.finditer(rf"^{name}\s+((?:[^\n]*\\\n)*[^\n]*)", TEXT, re.MULTILINE)
    return [re.sub(r"\\\n\s*", " ", m.group(1)).strip() for m in found]


def test_base_image_is_pinned_to_a_release_or_digest():
    (default,) = [line.split("=", 1)[1] for line in instructions("ARG") if line.startswith("PYTHON_IMAGE=")]
    assert re.search(r":3\.11\.\d+-slim-\w+$", default) or "@sha256:" in default, default
    assert instructions("FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]


def test_state_lives_in_a_volume_and_the_health_check_reads_the_configured_port():
    env = " ".join(instructions("ENV"))
    state = re.search(r"mcgw_state_dir=(\S+)", env).group(1)
    assert instructions("VOLUME") == [f'["{state}"]']
    (health,) = instructions("HEALTHCHECK")
    assert health.endswith('CMD ["microgw", "health"]') and "4485" not in health
    config = re.search(r"MICROGW_CONFIG=(\S+)", env).group(1)
    assert config == "/config/config.yml" and instructions("CMD") == ['["start"]']


def test_the_documented_run_line_names_a_sample_that_exists():
    for text in (TEXT, (REPO / "README.md").read_text()):
        runs = re.findall(r"-v \./samples:/config\S* .*?MICROGW_CONFIG=/config/(\S+)", text, re.DOTALL)
        assert runs and all((REPO / "samples" / name).is_file() for name in runs), runs
        assert "--format docker" in text
