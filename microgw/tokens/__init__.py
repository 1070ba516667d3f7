"""tokens room of microgw (see ARCHITECTURE)."""
