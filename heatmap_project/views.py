"""The demo's own page at ``/``: what an agency's SPA would show, built on the TypeScript client.

Its source is ``clients/typescript/page/``; ``npm run build:page`` writes the template and
the static files it names, which are committed, so serving it needs no Node.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def demo_page(request: HttpRequest) -> HttpResponse:
    """The page signs in in the browser (a token in the fragment or pasted): no session here."""
    return render(request, "heatmap_project/page.html")
