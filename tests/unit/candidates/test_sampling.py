"""The random sample of anchors a randomised search takes: distinct set
slots, as many as asked for, every set slot equally likely."""

from __future__ import annotations

import collections
import os

import numpy as np
import pytest

from berth.placement.candidates import search


@pytest.fixture
def seeded(monkeypatch):
    monkeypatch.setattr(search._Randomness, "generator", np.random.default_rng(7))


def _mask(size: int, set_slots) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[list(set_slots)] = True
    return mask


@pytest.mark.parametrize(
    "set_slots",
    [
        range(0, 1000, 2),  # dense: drawn slot by slot
        range(0, 1000, 40),  # sparse (2.5%): drawn from the list of set slots
        range(10),  # fewer than asked for: all of them, shuffled
    ],
    ids=["dense", "sparse", "fewer-than-wanted"],
)
def test_a_sample_is_distinct_set_slots_as_many_as_asked(seeded, set_slots):
    mask = _mask(1000, set_slots)
    for _ in range(200):
        sample = search._sample(mask, 16).tolist()
        assert len(sample) == min(16, len(set_slots))
        assert len(set(sample)) == len(sample)
        assert set(sample) <= set(set_slots)


def test_every_set_slot_is_as_likely_to_be_drawn_and_to_come_first(seeded):
    set_slots = list(range(0, 1000, 4))  # 250 of 1,000: the dense path
    mask = _mask(1000, set_slots)
    drawn, first = collections.Counter(), collections.Counter()
    rounds = 20_000
    for _ in range(rounds):
        sample = search._sample(mask, 16).tolist()
        drawn.update(sample)
        first[sample[0]] += 1
    expected = rounds * 16 / len(set_slots)  # 1,280 per slot
    assert set(drawn) == set(set_slots)
    assert all(abs(count - expected) < 0.15 * expected for count in drawn.values())
    # Each slot comes first about 80 times in 20,000: a slot favoured by
    # its position (the lowest, say) would stand out.
    assert max(first.values()) < 2 * rounds / len(set_slots)
    assert abs(np.mean([slot for slot, n in first.items() for _ in range(n)]) - np.mean(set_slots)) < 20


def test_a_forked_child_draws_its_own_samples(seeded):
    # Scheduler workers forked from one parent must not sample the same hosts.
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.write(write, search._random().bit_generator.random_raw(4).tobytes())
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.waitpid(pid, 0)
    os.close(read)
    parent = search._random().bit_generator.random_raw(4).tobytes()
    assert len(child) == len(parent) == 32 and child != parent
