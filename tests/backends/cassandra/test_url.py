"""cassandra:// URLs (no cluster needed)."""

from __future__ import annotations

import pytest

from berth.store.cassandra.url import CassandraUrl


def test_hosts_keyspace_and_replication_factor():
    url = CassandraUrl.parse("cassandra://127.0.0.1,127.0.0.2,127.0.0.3/berth?rf=3")
    assert url == CassandraUrl(("127.0.0.1", "127.0.0.2", "127.0.0.3"), 9042, "berth", 3)


def test_defaults_and_a_port():
    assert CassandraUrl.parse("cassandra://db:9142") == CassandraUrl(("db",), 9142, "berth", 1)


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://h/db",
        "cassandra://h1:9042,h2:9043/ks",  # one port for every host
        "cassandra:///ks",  # no host
        "cassandra://h/Bad-Name",
        "cassandra://h/ks?rf=0",
    ],
)
def test_refused(text):
    with pytest.raises(ValueError):
        CassandraUrl.parse(text)
