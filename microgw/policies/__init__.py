"""Policies: one self-contained module per policy (:mod:`microgw.policies.unit`), listed once in
:mod:`microgw.policies.registry`. Each owns its config, schema fragment, checks, vendor mapping and
the request stages it builds; stages ask ``tokens`` and ``applications`` questions, never crypto."""
