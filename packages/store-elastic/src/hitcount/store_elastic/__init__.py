"""hitcount-store-elastic: the ``elastic`` HitStore, hits in daily Elasticsearch indices.

Select it with ``HITCOUNT_STORE=elastic`` and point ``HITCOUNT_ELASTIC_URL`` at the
cluster; :mod:`hitcount.store_elastic.plugin` registers it. Importing this package
does not import the Elasticsearch client; opening the store does.
"""
