"""hitcount-queue-redis: the ``redis`` queue backend, on Redis Streams with a consumer group.

Select it with ``HITCOUNT_QUEUE=redis``; the queue itself is
:class:`hitcount.queue_redis.queue.RedisQueue`. Nothing here imports redis-py, so that
loading the plugin costs nothing in processes that use another queue.
"""
