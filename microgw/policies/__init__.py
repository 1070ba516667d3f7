"""policies room of microgw (see ARCHITECTURE)."""
