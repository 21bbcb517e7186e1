"""``hitcount bench``: a load generator for a running hitcount API.

Standard library only, so that installing hitcount-core is enough to load-test any
deployment. Several processes each hold keep-alive connections; with ``--rate`` the
arrivals are scheduled open-loop and each latency is measured from the request's
*scheduled* time, so a stalled server cannot hide its stalls (no coordinated omission).
"""
