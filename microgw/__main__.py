"""Allows ``python -m microgw``."""

from microgw.cli import main

raise SystemExit(main())
