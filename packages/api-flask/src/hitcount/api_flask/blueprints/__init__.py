"""The API's blueprints: Read (counts), the page script and Ops (health, metrics, OpenAPI).

Track is no blueprint: the WSGI front answers it (:mod:`hitcount.api_flask.front`).
"""
