"""hitcount's HTTP/1.1 server, run by its gunicorn worker (:mod:`hitcount.api_flask.worker`).

gevent's WSGI server spends several times the CPU per request of a lean gevent loop
parsing with llhttp (BENCHMARKS.md, "The HTTP layer"), and lets one request be smuggled inside
another. This package is that lean loop, made a server: :mod:`.framing` turns a
connection's bytes into requests (llhttp through ``httptools``, plus the framing rules of
RFC 9112 that llhttp leaves to its caller), :mod:`.connection` serves one connection
(deadlines, pipelining, ``Expect: 100-continue``, a WSGI call per request, one send per
batch of answers).
"""
