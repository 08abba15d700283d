"""What an API endpoint answers to OPTIONS (REST_FRAMEWORK's DEFAULT_METADATA_CLASS).

OPTIONS needs no key (accounts.permissions), so the answer must be the same for
everyone: DRF's SimpleMetadata without its `actions` section. That section is
built per caller: it runs the permission checks for PUT and POST, loads the object
for PUT (which would tell apart a record that exists from one that does not) and
describes serializers that may be shaped by the caller's workspace. The fields
are documented in the OpenAPI schema at /api/schema/ instead. The methods an
endpoint accepts are in the `Allow` header, which DRF sets on every answer.
"""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class PublicMetadata(SimpleMetadata):
    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
        }
