"""Allocation candidates: which providers can satisfy a request right now,
and exactly what allocation would claim it.

``request`` holds the question (request groups and request-wide rules),
``result`` the answer, ``index`` the read-side index refreshed from the
store's change feed, ``search`` the query over that index and ``finder`` the
object the API and the scheduler call.
"""
