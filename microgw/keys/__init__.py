"""keys room of microgw (see ARCHITECTURE)."""
