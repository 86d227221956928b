"""Character motion: clip sources (procedural, BVH motion capture, Mixamo FBX), retargeting
onto the body's Mixamo rig, sampling at the dataset's frame times, and foot-contact metrics.

Everything here is pure (numpy, no engine): the FBX reader lives in the Blender backend
(:mod:`render.backends.blender.fbx`) and hands over a :class:`render.motion.source.SourceMotion`.
"""
