"""JSON schemas of request bodies and query strings, one module per resource.

Each microversion's schema is derived from the one before it (a deep copy
and the change), so a reader sees what each version added. ``validation``
holds the one place that runs them.
"""
