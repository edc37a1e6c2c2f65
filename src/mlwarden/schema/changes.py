"""What registering a model again would change in its spec, in words.

Registering is repeatable: the same command run twice changes nothing. Run with other roles
(``--target``, ``--segment``, ...) or other reference data, it infers another spec; the
stored spec and the new one are then merged (features are never dropped and keep their kind:
events are stored with them) and the differences are listed, so they are applied knowingly.
"""

from __future__ import annotations

from mlwarden.schema.spec import ModelSpec

__all__ = ["describe_changes", "merge_registered"]

_ROLES = ("task", "target", "prediction", "score", "timestamp", "event_id", "positive_class")
_LISTS = ("scores", "classes", "segments", "sensitive")


def merge_registered(old: ModelSpec, new: ModelSpec) -> ModelSpec:
    """``new`` (inferred again), keeping every feature of ``old`` with its kind, and ``old``'s
    description and service.

    Examples
    --------
    >>> from mlwarden.schema.spec import Feature
    >>> old = ModelSpec(name="m", task="binary", features=[Feature(name="a", kind="numeric")])
    >>> new = ModelSpec(name="m", task="binary", target="y",
    ...                 features=[Feature(name="a", kind="categorical"),
    ...                           Feature(name="b", kind="numeric")])
    >>> merged = merge_registered(old, new)
    >>> [(f.name, f.kind.value) for f in merged.features], merged.target
    ([('a', 'numeric'), ('b', 'numeric')], 'y')
    """
    feats = list(old.features)
    known = set(old.feature_names)
    feats += [f for f in new.features if f.name not in known]
    data = new.model_dump()
    data["features"] = feats
    data["description"] = old.description or new.description
    data["service"] = old.service
    if old.positive_class is not None and new.positive_class is None:
        data["positive_class"] = old.positive_class
    return ModelSpec.model_validate(data)


def describe_changes(old: ModelSpec, new: ModelSpec) -> list[str]:
    """One line per field that differs, e.g. ``target: none -> 'malignant'``.

    Examples
    --------
    >>> a = ModelSpec(name="m", task="binary", classes=["0", "1"])
    >>> describe_changes(a, a.model_copy(update={"target": "y", "segments": ("clinic",)}))
    ["target: none -> 'y'", "segments: none -> 'clinic'"]
    """
    lines = []
    for name in _ROLES:
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            lines.append(f"{name}: {_show(a)} -> {_show(b)}")
    for name in _LISTS:
        xs, ys = getattr(old, name), getattr(new, name)
        if xs != ys:
            lines.append(f"{name}: {_show_all(xs)} -> {_show_all(ys)}")
    added = [f.name for f in new.features if old.feature(f.name) is None]
    if added:
        lines.append(f"features added: {_show_all(added)}")
    for f in new.features:
        o = old.feature(f.name)
        if o is not None and o.kind != f.kind:
            lines.append(f"feature {f.name!r}: kind {o.kind.value!r} -> {f.kind.value!r}")
    return lines


def _show(v: object) -> str:
    if v is None:
        return "none"
    return repr(getattr(v, "value", v))


def _show_all(vs: tuple[str, ...] | list[str]) -> str:
    return ", ".join(map(repr, vs)) if vs else "none"
