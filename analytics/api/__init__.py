"""The HTTP endpoint: views, their input and output serializers, CSV and negotiation,
throttles, caching and validators, and the OpenAPI description.

Depends on :mod:`analytics.auth` (who is calling) and :mod:`analytics.heatmap` (what
they get); neither imports from here. The errors it answers with live in
:mod:`analytics.exceptions`, beside the errors they translate.
"""
