"""The heatmap itself: its vocabulary, the query value, the reads, the ranking, the text.

- :mod:`~analytics.heatmap.vocabulary`: periods, metrics, zones, cells, the ``Heatmap``
  value and every parameter's choices, bounds, defaults and help; no Django.
- :mod:`~analytics.heatmap.query`: ``HeatmapQuery``, one request's checked values and window.
- :mod:`~analytics.heatmap.selectors`: the reads, from the rollup or a scan of calls.
- :mod:`~analytics.heatmap.ranking`: the best times, a pure function.
- :mod:`~analytics.heatmap.presentation`: shades, legend and labels for the admin and CLI.

Knows nothing of HTTP: the API, the admin and ``call_heatmap`` all call in here.
"""
