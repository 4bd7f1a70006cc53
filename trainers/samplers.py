"""Samplers that decide which images each epoch sees: shuffling, minimal random resampling (class-balanced subsets
with a cap), and m-per-class batches (so correlation losses see positive pairs). All are DDP-aware.

Every sampler builds the same global order on every rank from ``seed + epoch`` and yields its rank's shard, so
class balance holds across the whole distributed batch. Call ``set_epoch(e)`` before each epoch.
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Sequence

import numpy as np

from fer_edge.errors import InvalidInputError

__all__ = ["ShuffleSampler", "MinimalRandomResampler", "MPerClassSampler", "BatchSampler", "build_sampler"]


def _dist_defaults(num_replicas: Optional[int], rank: Optional[int]):
    if num_replicas is None or rank is None:
        world, me = 1, 0
        try:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                world, me = dist.get_world_size(), dist.get_rank()
        except ImportError:  # torch missing: single process
            pass
        num_replicas = world if num_replicas is None else num_replicas
        rank = me if rank is None else rank
    if int(num_replicas) < 1 or not 0 <= int(rank) < int(num_replicas):
        raise InvalidInputError(f"need num_replicas >= 1 and 0 <= rank < num_replicas, got {num_replicas}, {rank}")
    return int(num_replicas), int(rank)


def _labels_array(labels: Sequence[int]) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise InvalidInputError(f"labels must be a non-empty 1-D sequence of class indices, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise InvalidInputError("labels must be integer class indices")
        y = y.astype(np.int64)
    if y.min() < 0:
        raise InvalidInputError(f"labels must be >= 0, got {int(y.min())}")
    return y


class _Base:
    """Global order from ``_global_order(rng)``, padded to a multiple of ``num_replicas``, sharded by rank."""

    # Shard unit: 1 = interleave single indices; >1 = whole blocks (m-per-class batches).
    _block = 1

    def __init__(self, num_replicas: Optional[int] = None, rank: Optional[int] = None, seed: int = 0):
        self.num_replicas, self.rank = _dist_defaults(num_replicas, rank)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use a new order for ``epoch`` (same on every rank)."""
        self.epoch = int(epoch)

    def _global_order(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _shard(self) -> np.ndarray:
        order = self._global_order(np.random.default_rng([self.seed, self.epoch]))
        b, r = self._block, self.num_replicas
        blocks = order.reshape(-1, b)
        pad = (-len(blocks)) % r
        if pad:  # repeat leading blocks so every rank gets the same number (as DistributedSampler does)
            blocks = np.concatenate([blocks, blocks[np.arange(pad) % len(blocks)]])
        return blocks[self.rank::r].reshape(-1)

    def __iter__(self) -> Iterator[int]:
        return iter(self._shard().tolist())

    def __len__(self) -> int:
        n = self._global_len()
        b, r = self._block, self.num_replicas
        return -(-(n // b) // r) * b

    def _global_len(self) -> int:
        raise NotImplementedError


class ShuffleSampler(_Base):
    """Plain per-epoch shuffle of all ``num_samples`` indices."""

    def __init__(self, num_samples: int, shuffle: bool = True, num_replicas: Optional[int] = None,
                 rank: Optional[int] = None, seed: int = 0):
        super().__init__(num_replicas, rank, seed)
        if int(num_samples) < 1:
            raise InvalidInputError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples, self.shuffle = int(num_samples), bool(shuffle)

    def _global_order(self, rng):
        return rng.permutation(self.num_samples) if self.shuffle else np.arange(self.num_samples)

    def _global_len(self) -> int:
        return self.num_samples


class MinimalRandomResampler(_Base):
    """Each epoch, a fresh random class-balanced subset: ``min(N_c, cap)`` images of every class, shuffled.

    ``cap=None`` uses the smallest class size (fully balanced, the minimal scheme); a larger cap (ESR: 5000)
    keeps all images of small classes and subsamples the big ones. ``replacement=True`` instead draws exactly
    ``cap`` per class (oversampling small classes).
    """

    def __init__(self, labels: Sequence[int], cap: Optional[int] = None, replacement: bool = False,
                 num_replicas: Optional[int] = None, rank: Optional[int] = None, seed: int = 0):
        super().__init__(num_replicas, rank, seed)
        y = _labels_array(labels)
        self.by_class: List[np.ndarray] = [np.flatnonzero(y == c) for c in np.unique(y)]
        smallest = min(len(ix) for ix in self.by_class)
        if cap is not None and int(cap) < 1:
            raise InvalidInputError(f"cap must be >= 1 (or None = smallest class), got {cap}")
        self.cap = smallest if cap is None else int(cap)
        self.replacement = bool(replacement)

    def _per_class(self, ix: np.ndarray) -> int:
        return self.cap if self.replacement else min(len(ix), self.cap)

    def _global_order(self, rng):
        parts = [rng.choice(ix, self._per_class(ix), replace=self.replacement and len(ix) < self.cap)
                 for ix in self.by_class]
        return rng.permutation(np.concatenate(parts))

    def _global_len(self) -> int:
        return sum(self._per_class(ix) for ix in self.by_class)


class MPerClassSampler(_Base):
    """Batches of ``batch_size`` made of ``batch_size // m`` classes × ``m`` images each.

    Use with ``DataLoader(batch_size=batch_size, drop_last=True)`` (``batch_size`` is per rank); under DDP each
    rank receives whole batches, so every rank's batch has positive pairs. Classes with fewer than ``m`` images
    are sampled with replacement. ``length`` = images per epoch before sharding (default: the dataset size).
    """

    def __init__(self, labels: Sequence[int], m: int = 4, batch_size: int = 32, length: Optional[int] = None,
                 num_replicas: Optional[int] = None, rank: Optional[int] = None, seed: int = 0):
        super().__init__(num_replicas, rank, seed)
        y = _labels_array(labels)
        self.by_class = [np.flatnonzero(y == c) for c in np.unique(y)]
        if int(m) < 1 or int(batch_size) < int(m) or int(batch_size) % int(m):
            raise InvalidInputError(f"batch_size ({batch_size}) must be a positive multiple of m ({m})")
        self.m, self.batch_size = int(m), int(batch_size)
        self.classes_per_batch = self.batch_size // self.m
        if self.classes_per_batch > len(self.by_class):
            raise InvalidInputError(
                f"batch_size/m = {self.classes_per_batch} classes per batch but the labels have only "
                f"{len(self.by_class)} classes; lower batch_size or raise m")
        total = len(y) if length is None else int(length)
        self.num_batches = max(total // self.batch_size, 1)
        self._block = self.batch_size

    def _global_order(self, rng):
        batches = []
        pools = [rng.permutation(ix) for ix in self.by_class]
        ptr = [0] * len(pools)
        for _ in range(self.num_batches):
            batch = []
            for c in rng.choice(len(pools), self.classes_per_batch, replace=False):
                pool = pools[c]
                if len(pool) < self.m:
                    batch.append(rng.choice(pool, self.m, replace=True))
                    continue
                if ptr[c] + self.m > len(pool):  # class exhausted: reshuffle it
                    pools[c] = pool = rng.permutation(pool)
                    ptr[c] = 0
                batch.append(pool[ptr[c]:ptr[c] + self.m])
                ptr[c] += self.m
            batches.append(np.concatenate(batch))
        return np.concatenate(batches)

    def _global_len(self) -> int:
        return self.num_batches * self.batch_size


class BatchSampler:
    """Groups a sampler's indices (this rank's shard) into lists of ``batch_size``; usable as a DataLoader
    ``batch_sampler`` or iterated directly. ``set_epoch`` is forwarded."""

    def __init__(self, sampler: _Base, batch_size: int, drop_last: bool = True):
        if int(batch_size) < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), bool(drop_last)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[List[int]]:
        idx = self.sampler._shard().tolist()
        stop = len(idx) - len(idx) % self.batch_size if self.drop_last else len(idx)
        for i in range(0, stop, self.batch_size):
            yield idx[i:i + self.batch_size]

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def build_sampler(kind: str, labels: Sequence[int], *, batch_size: int = 32, m: int = 4, cap: Optional[int] = None,
                  num_replicas: Optional[int] = None, rank: Optional[int] = None, seed: int = 0,
                  batched: bool = True, drop_last: bool = True):
    """Sampler by name: "shuffle", "mrr" (minimal random resampling), "m_per_class".

    Args:
        kind: sampler name.
        labels: class index of every training image.
        batch_size: batch size per rank.
        m: images per class in a batch (m_per_class).
        cap: per-class cap (mrr; None = the smallest class).
        num_replicas: world size (None = from torch.distributed, else 1).
        rank: this process's rank (None = from torch.distributed, else 0).
        seed: base seed; the order depends on ``seed`` and the epoch only.
        batched: return a ``BatchSampler`` yielding lists of ``batch_size`` indices (default), else the plain
            index sampler (for ``DataLoader(sampler=...)``).
        drop_last: drop this rank's last incomplete batch (batched only).
    """
    if kind == "shuffle":
        s = ShuffleSampler(len(labels), True, num_replicas, rank, seed)
    elif kind == "mrr":
        s = MinimalRandomResampler(labels, cap, False, num_replicas, rank, seed)
    elif kind == "m_per_class":
        s = MPerClassSampler(labels, m, batch_size, None, num_replicas, rank, seed)
    else:
        raise InvalidInputError(f"Unknown sampler {kind!r}; use 'shuffle', 'mrr' or 'm_per_class'")
    return BatchSampler(s, batch_size, drop_last) if batched else s
