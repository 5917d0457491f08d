"""The demo's own page at ``/``: what an agency's SPA would show, built on the TypeScript client.

Its source is ``clients/typescript/page/``; ``npm run build:page`` writes ``index.html``,
``app.js`` and ``app.css`` into ``static/heatmap_project/page/`` here, committed, so serving
it needs no Node. ``/`` returns that ``index.html`` as it is, no template: it names its
assets by absolute URLs under ``STATIC_URL`` (``/static/heatmap_project/page/app.js?v=...``),
so the same file works from a second origin that serves ``heatmap_project/static/`` under
``/static/``.
"""

from __future__ import annotations

from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

#: The built page, beside the files it names.
PAGE = Path(__file__).resolve().parent / "static" / "heatmap_project" / "page" / "index.html"


@require_safe
def demo_page(request: HttpRequest) -> HttpResponse:
    """The page signs in in the browser (a token in the fragment or pasted): no session here."""
    return HttpResponse(PAGE.read_bytes(), content_type="text/html; charset=utf-8")
