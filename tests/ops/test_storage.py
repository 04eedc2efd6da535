"""An instance's Storage forgets collections nothing else refers to, and only those."""

from __future__ import annotations

from qdisclab.ops import SkbList, SkbNode, SkbRbTree, Storage


def _members(storage: Storage) -> list[object]:
    return list(storage)


def test_unreferenced_empty_collections_are_swept_and_kept_ones_stay() -> None:
    storage = Storage()
    kept: list[object] = []
    for i in range(2000):
        collection = (SkbList, SkbRbTree, SkbNode)[i % 3]()
        storage.add(collection)
        if i % 100 == 0:
            kept.append(collection)
    del collection
    members = _members(storage)
    # Every kept collection is still registered, by identity.
    assert all(any(m is k for m in members) for k in kept)
    # The registry stays bounded: at most twice what survived the last sweep, plus what
    # came after it (far below the 2000 created).
    assert len(storage) < 200


def test_discard_removes_exactly_that_collection() -> None:
    storage = Storage()
    a, b = SkbList(), SkbList()
    storage.add(a)
    storage.add(b)
    storage.discard(a)
    assert [m is b for m in storage] == [True]
