"""The ids a full pull has seen, kept in about 8 bytes each so that finding removals at the end
does not make a pull's memory grow with its size."""

from __future__ import annotations

from array import array
from bisect import bisect_left

_MASK = (1 << 64) - 1


class SeenIds:
    """A set of strings stored as 64-bit hashes in 256 buckets, sorted on first lookup.

    Membership is by hash: two different ids colliding (odds about n²/2⁶⁵, ~10⁻⁹ for 200,000
    ids) would make a removed record look present, so it is marked on a later pull instead.
    Python's str hash is fixed for the life of a process, which is all one pull needs.
    """

    def __init__(self) -> None:
        self._buckets = [array("Q") for _ in range(256)]
        self._count = 0
        self._sorted = True

    @staticmethod
    def _hash(value: str) -> int:
        return hash(value) & _MASK

    def add(self, value: str) -> None:
        h = self._hash(value)
        self._buckets[h >> 56].append(h)
        self._count += 1
        self._sorted = False

    def _sort(self) -> None:
        for index, bucket in enumerate(self._buckets):
            if len(bucket) > 1:
                self._buckets[index] = array("Q", sorted(bucket))
        self._sorted = True

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        if not self._sorted:
            self._sort()
        h = self._hash(value)
        bucket = self._buckets[h >> 56]
        index = bisect_left(bucket, h)
        return index < len(bucket) and bucket[index] == h

    def __len__(self) -> int:
        """Ids added (an id added twice counts twice)."""
        return self._count
