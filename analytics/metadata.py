"""What ``OPTIONS`` answers: the endpoint's methods and media types, and nothing internal."""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import BaseMetadata
from rest_framework.request import Request
from rest_framework.views import APIView


class MethodsOnlyMetadata(BaseMetadata):
    """DRF's ``SimpleMetadata`` answers with the view's name and docstring: text for the
    code's readers, not for callers. The contract is in the OpenAPI description;
    ``OPTIONS`` keeps to what ``Allow`` and negotiation already tell.
    """

    def determine_metadata(self, request: Request, view: APIView) -> dict[str, Any]:
        return {
            "methods": list(view.allowed_methods),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
        }
