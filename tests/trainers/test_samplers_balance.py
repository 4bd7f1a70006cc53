"""Samplers: class balance, caps, m-per-class batches, per-epoch reshuffle, and DDP sharding of one global order."""

from collections import Counter

import numpy as np
import pytest
from fer_edge.trainers.samplers import MinimalRandomResampler, MPerClassSampler, ShuffleSampler, build_sampler

from fer_edge.errors import InvalidInputError

LABELS = np.array([0] * 200 + [1] * 40 + [2] * 9 + [3] * 60)


def test_shuffle_covers_everything_and_changes_with_epoch():
    s = ShuffleSampler(len(LABELS), seed=1)
    first = list(s)
    assert sorted(first) == list(range(len(LABELS)))
    s.set_epoch(1)
    assert list(s) != first
    s.set_epoch(0)
    assert list(s) == first  # deterministic per epoch


def test_mrr_is_balanced_and_redrawn_each_epoch():
    s = MinimalRandomResampler(LABELS, seed=3)
    idx = list(s)
    assert len(idx) == len(s) == 4 * 9
    assert Counter(LABELS[idx].tolist()) == {0: 9, 1: 9, 2: 9, 3: 9}
    assert len(set(idx)) == len(idx)
    s.set_epoch(1)
    assert set(s) != set(idx)  # a fresh subset of the big classes


def test_mrr_cap_keeps_small_classes_whole():
    s = MinimalRandomResampler(LABELS, cap=50)
    counts = Counter(LABELS[list(s)].tolist())
    assert counts == {0: 50, 1: 40, 2: 9, 3: 50}
    over = MinimalRandomResampler(LABELS, cap=50, replacement=True)
    assert Counter(LABELS[list(over)].tolist()) == {0: 50, 1: 50, 2: 50, 3: 50}


def test_m_per_class_batches_have_positive_pairs():
    s = MPerClassSampler(LABELS, m=4, batch_size=12, seed=0)
    idx = np.array(list(s))
    assert len(idx) == len(s) and len(idx) % 12 == 0
    for batch in idx.reshape(-1, 12):
        counts = Counter(LABELS[batch].tolist())
        assert len(counts) == 3 and set(counts.values()) == {4}


@pytest.mark.parametrize("make", [
    lambda r, w: ShuffleSampler(len(LABELS), num_replicas=w, rank=r, seed=5),
    lambda r, w: MinimalRandomResampler(LABELS, cap=30, num_replicas=w, rank=r, seed=5),
    lambda r, w: MPerClassSampler(LABELS, m=2, batch_size=8, num_replicas=w, rank=r, seed=5),
], ids=["shuffle", "mrr", "m_per_class"])
def test_ddp_shards_partition_the_global_order(make):
    world = 3
    single = make(0, 1)
    single.set_epoch(2)
    whole = list(single)
    shards = []
    for r in range(world):
        s = make(r, world)
        s.set_epoch(2)
        shards.append(list(s))
        assert len(shards[-1]) == len(s)
    assert len({len(sh) for sh in shards}) == 1  # equal length on every rank (DDP needs that)
    union = Counter(i for sh in shards for i in sh)
    assert set(union) == set(whole)  # same global order, split (padding repeats at most one block per rank)
    assert sum(union.values()) - len(whole) < world * getattr(single, "batch_size", 1)


def test_ddp_keeps_class_balance_across_ranks():
    world = 2
    counts = Counter()
    for r in range(world):
        s = MinimalRandomResampler(LABELS, num_replicas=world, rank=r, seed=0)
        counts.update(LABELS[list(s)].tolist())
    assert counts == {0: 9, 1: 9, 2: 9, 3: 9}
    for r in range(world):
        idx = np.array(list(MPerClassSampler(LABELS, m=2, batch_size=4, num_replicas=world, rank=r)))
        for batch in idx.reshape(-1, 4):
            assert set(Counter(LABELS[batch].tolist()).values()) == {2}


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="multiple of m"):
        MPerClassSampler(LABELS, m=3, batch_size=8)
    with pytest.raises(InvalidInputError, match="classes per batch"):
        MPerClassSampler(LABELS, m=1, batch_size=8)
    with pytest.raises(InvalidInputError, match="rank"):
        ShuffleSampler(10, num_replicas=2, rank=2)
    with pytest.raises(InvalidInputError, match="labels"):
        MinimalRandomResampler([])
    with pytest.raises(InvalidInputError, match="sampler"):
        build_sampler("balanced", LABELS)
    assert len(build_sampler("mrr", LABELS, batched=False)) == 36


def test_build_sampler_yields_batches_per_rank():
    b = build_sampler("m_per_class", LABELS, batch_size=8, m=4, num_replicas=2, rank=1, seed=0)
    b.set_epoch(3)
    batches = list(b)
    assert len(batches) == len(b) > 0
    for batch in batches:
        assert len(batch) == 8 and set(Counter(LABELS[batch].tolist()).values()) == {4}
    mrr = build_sampler("mrr", LABELS, batch_size=5, num_replicas=1, rank=0)
    assert len(list(mrr)) == len(mrr) == 36 // 5
