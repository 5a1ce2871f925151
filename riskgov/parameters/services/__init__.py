"""Write actions on parameters: import a parameter document, create drafts, move their status.

Every action is one atomic function that records its own audit event (STYLE rules 4, 5).
Validation happens before anything is written (the one exact validator,
:mod:`riskgov.parameters.validation`), and any failure rolls the whole import back:
imports are all-or-nothing.

- :mod:`.versions` — ``market_version_create``, ``asset_version_create``, the status moves,
  ``market_version_errors``, ``market_version_as_dict``;
- :mod:`.imports` — ``parameters_import_document``, ``ImportSummary``, ``document_sha256``.
"""

from riskgov.parameters.services._base import ParameterDocumentInvalid
from riskgov.parameters.services.imports import ImportSummary, document_sha256, parameters_import_document
from riskgov.parameters.services.versions import (
    VERSION_TRANSITIONS,
    asset_version_create,
    asset_version_set_status,
    market_version_as_dict,
    market_version_create,
    market_version_errors,
    market_version_set_status,
)

__all__ = [
    "VERSION_TRANSITIONS",
    "ImportSummary",
    "ParameterDocumentInvalid",
    "asset_version_create",
    "asset_version_set_status",
    "document_sha256",
    "market_version_as_dict",
    "market_version_create",
    "market_version_errors",
    "market_version_set_status",
    "parameters_import_document",
]
