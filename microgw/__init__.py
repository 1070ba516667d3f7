"""microgw: a lightweight, YAML-configured API microgateway that secures APIs with JWTs."""

__version__ = "0.1.0"
