"""What the loader needs to know of a policy; the policy modules in ``microgw.policies`` provide it.

``config`` sits below ``policies`` (policies read config's models), so it cannot import them: the
start-up code hands the loader a catalog (policy name -> :class:`PolicySpec`). The loader turns each
API's ``policies`` mapping into the specs' own frozen config objects once, then runs every spec's
cross-checks against the rest of the settings (auth server ids, application ids, the API's other
policies), so a broken reference is reported with its file, line and path before anything starts.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol


class PolicyChecks:
    """The view one policy's cross-check gets: the settings it may refer to, and where to report.

    Paths given to :meth:`fail` are relative to the policy's own configuration.
    """

    def __init__(
        self,
        where: list,
        report: Callable[[list, str, bool], None],
        policies: Mapping[str, Any],
        provided: frozenset[str],
        auth_server_ids: frozenset[str],
        application_ids: frozenset[str],
    ) -> None:
        self._where = where
        self._report = report
        self.policies = policies  # the API's parsed policy configs, by name
        self.provided = provided  # what the API's policies provide to each other (e.g. "token")
        self.auth_server_ids = auth_server_ids
        self.application_ids = application_ids

    def fail(self, parts: list, message: str) -> None:
        """A problem that stops the gateway from starting."""
        self._report([*self._where, *parts], message, False)

    def nested(self, parts: list, policies: Mapping[str, Any], provided: frozenset[str]) -> "PolicyChecks":
        """The checks of a policy held inside this one (a scope's), against the policies it runs with."""
        return PolicyChecks([*self._where, *parts], self._report, policies, provided, self.auth_server_ids, self.application_ids)

    def fail_unknown(self, parts: list, message: str) -> None:
        """A reference to something a parent gateway's download may still bring: an error for a
        gateway on its own, a warning for one that downloads settings."""
        self._report([*self._where, *parts], message, True)


class PolicySpec(Protocol):
    """The loader's side of a policy unit (see ``microgw.policies.unit.Policy``)."""

    name: str

    def parse(self, raw: Mapping[str, Any]) -> Any:
        """Schema-valid configuration -> the policy's frozen config object."""

    def provides(self, config: Any) -> frozenset[str]:
        """What this policy hands to the API's other policies (e.g. ``"token"``: a validated JWT)."""

    def check(self, config: Any, checks: PolicyChecks) -> None:
        """Cross-checks against the rest of the settings; report through ``checks``."""


PolicyCatalog = Mapping[str, PolicySpec]
