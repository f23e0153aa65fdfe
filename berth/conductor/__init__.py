"""Builds: the conductor that turns a build request into ACTIVE (or ERROR)
instances, retrying on the scheduler's alternates, and moves instances.

``model.py`` is the build record the store keeps; ``transitions.py`` the
changes made to it; ``conductor.py`` the loop ``berth conductor`` runs over
the store; ``lease.py`` how one conductor at a time takes a build's work;
``migrations.py`` the moves. See docs/conductor.md.
"""
