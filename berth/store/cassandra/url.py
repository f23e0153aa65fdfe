"""``cassandra://host[:port][,host...]/keyspace?rf=N`` as a typed object."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse

DEFAULT_PORT = 9042
_KEYSPACE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


@dataclasses.dataclass(frozen=True, slots=True)
class CassandraUrl:
    hosts: tuple[str, ...]
    port: int
    keyspace: str
    replication_factor: int

    @classmethod
    def parse(cls, url: str) -> CassandraUrl:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "cassandra":
            raise ValueError(f"not a cassandra:// URL: {url!r}")
        hosts, ports = [], set()
        for item in parsed.netloc.split(","):
            host, _, port = item.strip().partition(":")
            if not host:
                raise ValueError(f"empty host in {url!r}")
            hosts.append(host)
            ports.add(int(port) if port else DEFAULT_PORT)
        if len(ports) != 1:
            # The driver takes one port for every contact point.
            raise ValueError(f"every host must use the same port: {url!r}")
        keyspace = parsed.path.strip("/") or "berth"
        if not _KEYSPACE.match(keyspace):
            raise ValueError(f"invalid keyspace name {keyspace!r}")
        query = urllib.parse.parse_qs(parsed.query)
        rf = int(query.get("rf", ["1"])[0])
        if rf < 1:
            raise ValueError("rf must be at least 1")
        return cls(tuple(hosts), ports.pop(), keyspace, rf)
