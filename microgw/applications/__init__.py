"""Consumer applications: models, parsing of both input forms, and the identification index.

A library with no HTTP and no policy knowledge: the identify stage asks an
:class:`ApplicationIndex` who holds an API key, a user name, an address, a host name or a token's
claims, and decides itself what to do with none, one or several answers.
"""

from .addresses import AddressTable, IpRange, parse_range
from .claims import ClaimSet
from .index import ApplicationIndex
from .model import Application, HmacStrategy
from .parse import ParsedApplications, is_vendor_form, parse, parse_applications

__all__ = [
    "AddressTable",
    "Application",
    "ApplicationIndex",
    "ClaimSet",
    "HmacStrategy",
    "IpRange",
    "ParsedApplications",
    "is_vendor_form",
    "parse",
    "parse_applications",
    "parse_range",
]
