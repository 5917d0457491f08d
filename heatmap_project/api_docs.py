"""The demo's API description, public and cheap: the OpenAPI schema and Swagger UI.

drf-spectacular's own views take the project's default authentication (DRF's Session
and Basic), so a wrong ``Authorization: Basic`` password got a 403 and the right one a
200: a password oracle without throttle or CSRF, each guess a full password hash. And
they generate the schema on every request. These views authenticate no one, so they
never read a credential, touch a session or hash a password, and answer everyone
alike. The schema is the one ``manage.py spectacular`` writes to ``openapi.yaml``: it
is generated without a request, so it does not depend on who asks, once per process,
and each format (YAML, or JSON with ``?format=json``) is rendered once.

A host that wants its docs private wraps these views (``staff_member_required``),
puts them behind its reverse proxy, or does not mount them (docs/api.md).
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed
from django.http import HttpResponse
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class SchemaMemo:
    """The generated schema and its renderings, made at most once, under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._schema: dict[str, Any] | None = None
        self._rendered: dict[type[BaseRenderer], bytes] = {}

    def rendered(self, view: SpectacularAPIView, renderer: BaseRenderer) -> bytes:
        with self._lock:  # concurrent first requests wait for one generation, not make many
            if type(renderer) not in self._rendered:
                if self._schema is None:
                    generator = view.generator_class(urlconf=view.urlconf, patterns=view.patterns)
                    # As the `spectacular` command does: no request, so the same for everyone.
                    self._schema = generator.get_schema(request=None, public=True)
                body = renderer.render(self._schema, renderer_context={})
                self._rendered[type(renderer)] = body.encode() if isinstance(body, str) else body
            return self._rendered[type(renderer)]

    def clear(self, **kwargs: Any) -> None:
        with self._lock:
            self._schema = None
            self._rendered.clear()


schema_memo = SchemaMemo()
# A test's override_settings may change the URLs or what the schema says: start again.
setting_changed.connect(schema_memo.clear, dispatch_uid="heatmap_project.api_docs.schema_memo")


class PublicSchemaView(SpectacularAPIView):
    """``GET /api/schema/``: ``openapi.yaml``, or its JSON with ``?format=json``."""

    authentication_classes = []
    permission_classes = [AllowAny]
    # Nothing to guess and nothing costly to protect: a memoised body.
    throttle_classes = []
    # Not in the schema, whatever the host's DEFAULT_SCHEMA_CLASS.
    schema = None

    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        renderer = request.accepted_renderer
        content_type = renderer.media_type
        if renderer.charset:
            content_type = f"{content_type}; charset={renderer.charset}"
        filename = f"{spectacular_settings.TITLE or 'schema'}.{renderer.format}"
        return HttpResponse(
            schema_memo.rendered(self, renderer),
            content_type=content_type,
            headers={"Content-Disposition": f'inline; filename="{filename}"'},
        )


class PublicSwaggerView(SpectacularSwaggerView):
    """``GET /api/docs/``: Swagger UI, from drf-spectacular-sidecar (``SPECTACULAR_SETTINGS``).

    Its **Authorize** button comes from the schema's Bearer scheme: the token a user
    pastes goes, in the browser, to the endpoint they try, never to this page.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    schema = None

    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = super().get(request, *args, **kwargs)  # type: ignore[no-untyped-call]
        # No CSRF token in the page: the API only reads, so Swagger never sends one, and
        # without it the page sets no cookie and is the same bytes for every caller.
        response.data["csrf_token"] = ""  # type: ignore[attr-defined]
        return response
