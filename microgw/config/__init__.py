"""Configuration: YAML files, ``mcgw_*`` environment and command-line overrides -> validated, frozen
settings (JSON Schemas in ``schemas/``). Knows no HTTP and imports no higher room: policies reach
the loader as a catalog (:mod:`microgw.config.policy_spec`). Nothing else parses YAML or reads env."""
