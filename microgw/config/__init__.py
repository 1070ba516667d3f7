"""config room of microgw (see ARCHITECTURE)."""
