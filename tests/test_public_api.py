"""The public surface is curated: ``mlwarden.__all__`` is sorted, complete and importable."""

from __future__ import annotations

import mlwarden


def test_all_is_sorted_complete_and_importable() -> None:
    names = mlwarden.__all__
    assert list(names) == sorted(names)
    public = {
        n
        for n in vars(mlwarden)
        if not n.startswith("_") and not isinstance(getattr(mlwarden, n), type(mlwarden))
    }
    assert public <= set(names) | {"annotations"}, public - set(names)
    for n in names:
        assert hasattr(mlwarden, n)
