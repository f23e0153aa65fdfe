"""Run upstream OpenStack Placement's gabbi suite against a live server.

See docs/compatibility.md. Entry points: ``python -m tests.compat.run``
(``make compat``) and ``tests/compat/test_placement_suite.py`` (pytest).
"""
