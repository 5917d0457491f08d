"""The heatmap's rollup: ended calls per 15-minute UTC bucket, kept current by PostgreSQL.

``python manage.py heatmap_rollup`` installs it (:mod:`analytics.rollup.install`) and
reports on it (:mod:`analytics.rollup.inspect`); :mod:`analytics.rollup.state` tells the
selectors whether it can answer, and :mod:`analytics.rollup.buckets` whether a zone and
window can be answered from 15-minute buckets exactly. The SQL is in ``analytics/sql/rollup/``.
"""
