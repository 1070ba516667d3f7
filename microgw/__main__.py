"""Allows ``python -m microgw``."""

import gc

gc.disable()  # the imports too make long-lived objects only (see microgw.cli.main)

from microgw.cli import main  # noqa: E402

raise SystemExit(main())
