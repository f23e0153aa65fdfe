"""Peer services benchmarked beside berth, each in its own virtualenv."""
