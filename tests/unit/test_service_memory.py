"""A server process gives the memory of a large answer back once it is sent
(berth.service.return_large_blocks_to_the_os), measured in a process of its
own so that nothing else this test run allocated is counted."""

from __future__ import annotations

import subprocess
import sys

PROBE = r"""
import sys
from pathlib import Path
from berth.service import return_large_blocks_to_the_os

def rss_mib():
    status = Path("/proc/self/status").read_text()
    return int(next(l for l in status.splitlines() if l.startswith("VmRSS:")).split()[1]) / 1024

if sys.argv[1] == "fixed":
    assert return_large_blocks_to_the_os()
before = rss_mib()
for _ in range(3):
    # An answer's worth of bytes, written, then dropped; the first one also
    # raises glibc's own threshold when nothing fixed it.
    answer = b"x" * (24 << 20)
    del answer
print(rss_mib() - before)
"""


def _kept_mib(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


def test_the_memory_of_a_large_answer_is_given_back():
    assert _kept_mib("fixed") < 4
    # Without it glibc keeps the block in its heap: the probe does measure.
    assert _kept_mib("default") > 16
