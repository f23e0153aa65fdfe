"""The Cassandra backend: the store port over Apache Cassandra 5.0 with the
Python driver (cassandra-driver), selected by ``cassandra://h1,h2/ks?rf=3``.

A provider tree lives in one partition of the ``tree`` table, so every
compare-and-set on a provider generation is a lightweight transaction on one
partition. A claim runs as a small transaction record (``claims.py``): lock
the consumers, acquire each tree partition in a fixed order, commit, then
finalise; a claimer that dies is rolled back or forward by the reaper.
See docs/backends.md for the schema and what each read costs.
"""
