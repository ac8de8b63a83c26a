"""The routes of import and export, for the app's route table (`webapp.app`)."""

from __future__ import annotations

from webapp.portability.api import ExportController, ImportController
from webapp.portability.pages import TransferPages

ROUTE_HANDLERS = (ImportController, ExportController, TransferPages)
