"""berth's HTTP layer: OpenStack Placement's API, microversions 1.0-1.39.

This package owns everything between a socket and the store port: the route
table (``routes.py``), microversion negotiation (``microversion.py``), the
error format and the translation of domain errors (``errors.py``), request
authentication (``auth.py``), policy (``policy.py``, ``policies.py``), CORS
(``cors.py``), JSON schemas (``schemas/``), query-string parsing
(``query.py``) and one handler module per resource (``handlers/``).
``app.create_app(settings, store)`` assembles them into one ASGI app.

Nothing here speaks SQL: handlers call ``berth.store.port.Store`` and turn
its domain objects into Placement's JSON bodies.
"""
