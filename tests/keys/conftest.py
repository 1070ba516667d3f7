"""The keys room's tests use the shared ``jwks_server`` fixture (tests/conftest.py) and the kit in
jwtkit.py, which the tokens room shares."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # jwtkit, shared with tests/tokens
