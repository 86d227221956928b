"""Setting several editor properties of one UE object at once (no `unreal` import)."""

from __future__ import annotations


def set_props(obj: object, values: dict) -> object:
    """`obj.set_editor_property(name, value)` for each item of `values`, in order; returns `obj`
    (UE raises for a name the class does not have)."""
    for name, value in values.items():
        obj.set_editor_property(name, value)
    return obj
