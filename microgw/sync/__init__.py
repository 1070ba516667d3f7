"""sync room of microgw (see ARCHITECTURE)."""
