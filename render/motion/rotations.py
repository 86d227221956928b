"""Rotation helpers on numpy arrays: matrices (..., 3, 3) and unit quaternions (..., 4) as
(w, x, y, z), the order Blender uses."""

from __future__ import annotations

import numpy as np


def axis_angle(axis: str, radians: np.ndarray) -> np.ndarray:
    """Rotations about ``axis`` ("x", "y" or "z") by ``radians`` (...,) → (..., 3, 3)."""
    a = np.asarray(radians, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    rows = {
        "x": ((o, z, z), (z, c, -s), (z, s, c)),
        "y": ((c, z, s), (z, o, z), (-s, z, c)),
        "z": ((c, -s, z), (s, c, z), (z, z, o)),
    }[axis]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def euler(order: str, degrees: np.ndarray) -> np.ndarray:
    """Intrinsic Euler rotations as BVH writes them: ``order`` names the channels as they are
    listed ("ZYX" means R = Rz @ Ry @ Rx). ``degrees`` (..., len(order)) → (..., 3, 3)."""
    d = np.radians(np.asarray(degrees, dtype=np.float64))
    out = np.broadcast_to(np.eye(3), d.shape[:-1] + (3, 3)).copy()
    for k, axis in enumerate(order.lower()):
        out = out @ axis_angle(axis, d[..., k])
    return out


def euler_xyz(degrees) -> np.ndarray:
    """Blender's "XYZ" Euler (x applied first): R = Rz @ Ry @ Rx. (..., 3) → (..., 3, 3)."""
    return euler("zyx", np.asarray(degrees, dtype=np.float64)[..., ::-1])


def to_quat(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) → unit quaternions (..., 4), w ≥ 0."""
    m = np.asarray(m, dtype=np.float64)
    shape = m.shape[:-2]
    r = m.reshape(-1, 3, 3)
    tr = np.trace(r, axis1=1, axis2=2)
    # Each row's best-conditioned branch: the largest of w², x², y², z².
    k = np.stack([tr, r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]], axis=1).argmax(axis=1)
    q = np.empty((len(r), 4))
    s = 2.0 * np.sqrt(np.maximum(1.0 + tr, 1e-12))
    q0 = np.stack(
        [
            0.25 * s,
            (r[:, 2, 1] - r[:, 1, 2]) / s,
            (r[:, 0, 2] - r[:, 2, 0]) / s,
            (r[:, 1, 0] - r[:, 0, 1]) / s,
        ],
        1,
    )
    s = 2.0 * np.sqrt(np.maximum(1.0 + r[:, 0, 0] - r[:, 1, 1] - r[:, 2, 2], 1e-12))
    q1 = np.stack(
        [
            (r[:, 2, 1] - r[:, 1, 2]) / s,
            0.25 * s,
            (r[:, 0, 1] + r[:, 1, 0]) / s,
            (r[:, 0, 2] + r[:, 2, 0]) / s,
        ],
        1,
    )
    s = 2.0 * np.sqrt(np.maximum(1.0 - r[:, 0, 0] + r[:, 1, 1] - r[:, 2, 2], 1e-12))
    q2 = np.stack(
        [
            (r[:, 0, 2] - r[:, 2, 0]) / s,
            (r[:, 0, 1] + r[:, 1, 0]) / s,
            0.25 * s,
            (r[:, 1, 2] + r[:, 2, 1]) / s,
        ],
        1,
    )
    s = 2.0 * np.sqrt(np.maximum(1.0 - r[:, 0, 0] - r[:, 1, 1] + r[:, 2, 2], 1e-12))
    q3 = np.stack(
        [
            (r[:, 1, 0] - r[:, 0, 1]) / s,
            (r[:, 0, 2] + r[:, 2, 0]) / s,
            (r[:, 1, 2] + r[:, 2, 1]) / s,
            0.25 * s,
        ],
        1,
    )
    for branch, value in enumerate((q0, q1, q2, q3)):
        q[k == branch] = value[k == branch]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q.reshape(shape + (4,))


def to_matrix(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) → rotation matrices (..., 3, 3)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def slerp(q0: np.ndarray, q1: np.ndarray, u: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation between unit quaternions (..., 4) at ``u`` in [0, 1], the short way."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    near = sin < 1e-6
    safe = np.where(near, 1.0, sin)
    a = np.where(near, 1.0 - u, np.sin((1.0 - u) * theta) / safe)
    b = np.where(near, u, np.sin(u * theta) / safe)
    out = a * q0 + b * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) taking direction ``a`` (3,) onto direction ``b`` (3,)."""
    a = np.asarray(a, dtype=np.float64) / np.linalg.norm(a)
    b = np.asarray(b, dtype=np.float64) / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1.0 + 1e-9:  # opposite: half a turn about any axis perpendicular to a
        p = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        p /= np.linalg.norm(p)
        return 2.0 * np.outer(p, p) - np.eye(3)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def yaw_of(direction: np.ndarray) -> np.ndarray:
    """Heading (radians, counter-clockwise from -y seen from above) of horizontal directions (..., 3)."""
    d = np.asarray(direction, dtype=np.float64)
    return np.arctan2(d[..., 0], -d[..., 1])
