"""Secondary motion of hair (pure numpy, deterministic): guide strands follow the head with
inertia, children follow their guide.

The step is position-based with a fixed time step: each point is pulled towards where the
rigid head would carry its rest position (a goal spring whose strength falls from root to tip,
so the rest shape, drape included, is the equilibrium and no gravity is added), damped,
then put back at its rest distance from the previous point (follow-the-leader, root first)
and out of the head and the upper body. Two roots are pinned, so a strand leaves the scalp
as the style says. Same inputs, same operations in the same order: the same positions bit
for bit in any process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUBSTEPS = 8  # simulation steps per frame
KEEP_EVERY = 2  # steps kept for rendering (positions between them are interpolated)
PREROLL_S = 0.5  # the head held still at the first pose for this long before the shot
FTL_DAMPING = 0.9


@dataclass(frozen=True)
class Collider:
    """A capsule from ``a`` to ``b`` (3,) of ``radius`` in rest-pose coordinates, moved by the
    rest→posed matrices ``bone`` names in :func:`simulate`'s ``transforms``; ``radius`` may be a
    (3,) triple of ellipsoid radii when ``a`` equals ``b``."""

    bone: str
    a: np.ndarray
    b: np.ndarray
    radius: float | np.ndarray


def _apply(m: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(4, 4) rigid matrix applied to points (..., 3)."""
    return p @ m[:3, :3].T + m[:3, 3]


def _floor(c: Collider, local: np.ndarray) -> np.ndarray:
    """(...,) how deep points (..., 3) in a collider's rest frame sit: the ellipsoid radius
    (1 = on it) or the distance to the capsule's axis over its radius."""
    if np.ndim(c.radius) > 0:
        return np.linalg.norm((local - c.a) / np.asarray(c.radius), axis=-1)
    ab = c.b - c.a
    u = np.clip(((local - c.a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(local - (c.a + u[..., None] * ab), axis=-1) / c.radius


def push_out(c: Collider, local: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Points (..., 3) in a collider's rest frame moved out to depth ``floor`` (...,) at least."""
    if np.ndim(c.radius) > 0:
        r = np.asarray(c.radius)
        rel = (local - c.a) / r
        d = np.linalg.norm(rel, axis=-1)
        scale = np.where(d < floor, floor / np.maximum(d, 1e-9), 1.0)[..., None]
        return c.a + rel * scale * r
    ab = c.b - c.a
    u = np.clip(((local - c.a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    near = c.a + u[..., None] * ab
    rel = local - near
    d = np.linalg.norm(rel, axis=-1) / c.radius
    scale = np.where(d < floor, floor / np.maximum(d, 1e-9), 1.0)[..., None]
    return near + rel * scale


def simulate(
    rest: np.ndarray,
    transforms: dict[str, np.ndarray],
    colliders: list[Collider],
    dt: float,
    stiffness: float,
    damping: float = 0.5,
    preroll: int = 0,
    pinned: int = 2,
) -> np.ndarray:
    """Guide positions (T, G, P, 3) float32, world coordinates.

    rest (G, P, 3): guides in rest-pose coordinates; transforms[bone] (T, 4, 4): rest→world
    matrix of each bone at each step (``"Head"`` carries the roots); dt: seconds per step;
    stiffness: goal strength at the root (1/s²; the tip gets a fifth); damping: damping ratio
    of the goal spring, on the velocity relative to the head (a walk does not blow the hair
    back); preroll: steps before step 0, the head moving on at its first step's velocity;
    pinned: points per strand carried rigidly (the roots; a ponytail's part over the scalp).

    A collider keeps a point out to its surface, or to the depth the point has in the rest
    pose when that is deeper (a root inside a fitted ellipsoid stays where it grows).
    """
    head = transforms["Head"]
    t_steps, (g, p, _) = len(head), rest.shape
    out = np.empty((t_steps, g, p, 3), dtype=np.float32)
    if g == 0 or t_steps == 0:
        return out
    pinned = max(1, min(int(pinned), p))
    seg = np.linalg.norm(np.diff(rest, axis=1), axis=-1)  # (G, P-1)
    along = np.linspace(0.0, 1.0, p)[None, :, None]
    omega = np.sqrt(stiffness * (1.0 - 0.8 * along))  # (1, P, 1): the tip gets a fifth
    pull = np.minimum((omega * dt) ** 2, 1.0)  # Verlet's spring step, stable for ω·dt < 2
    keep_v = np.exp(-2.0 * damping * omega * dt)
    floors = [np.minimum(_floor(c, rest[:, pinned:]), 1.0) for c in colliders]
    bones = {c.bone for c in colliders} | {"Head"}
    # Before step 0: every bone moving on at its first step's velocity (rotations held).
    drift = {b: transforms[b][min(1, t_steps - 1), :3, 3] - transforms[b][0, :3, 3] for b in bones}

    def at(bone: str, step: int) -> np.ndarray:
        if step >= 0:
            return transforms[bone][step]
        m = transforms[bone][0].copy()
        m[:3, 3] += step * drift[bone]
        return m

    target = _apply(at("Head", -preroll - 1), rest)
    x = target.copy()
    v = _apply(at("Head", -preroll), rest) - target  # metres per step: moving with the head
    for step in range(-preroll, t_steps):
        last, target = target, _apply(at("Head", step), rest)
        carried = target - last  # how far the head carries each point this step
        new = x + carried + (v - carried) * keep_v + pull * (target - x)
        new[:, :pinned] = target[:, :pinned]
        corr = np.zeros_like(new)
        for j in range(pinned, p):  # follow the leader: every segment back to its rest length
            d = new[:, j] - new[:, j - 1]
            n = np.linalg.norm(d, axis=-1, keepdims=True)
            fixed = new[:, j - 1] + d / np.maximum(n, 1e-12) * seg[:, j - 1 : j]
            corr[:, j] = fixed - new[:, j]
            new[:, j] = fixed
        for c, floor in zip(colliders, floors, strict=True):
            bm = at(c.bone, step)
            local = _apply(np.linalg.inv(bm), new[:, pinned:])
            new[:, pinned:] = _apply(bm, push_out(c, local, floor))
        # Velocity with the follow-the-leader correction of the next point taken out (Müller et
        # al. 2012, "Fast simulation of inextensible hair and fur"): no energy from the projection.
        v = new - x
        v[:, :-1] -= FTL_DAMPING * corr[:, 1:]
        x = new
        if step >= 0:
            out[step] = x
    return out


def follow(
    points: np.ndarray,
    owner: np.ndarray,
    guide_rest: np.ndarray,
    guide_now: np.ndarray,
    head: np.ndarray,
) -> np.ndarray:
    """Strands (S, P, 3) at one time: carried rigidly by the head (4, 4 rest→world), plus
    their guide's displacement from rigid (guide_rest (G, P, 3) rest pose, guide_now (G, P, 3)
    world); ``owner`` (S,) each strand's guide."""
    rigid_guides = _apply(head, guide_rest)
    return _apply(head, points) + (guide_now - rigid_guides)[owner]


@dataclass
class HairMotion:
    """Simulated guides of one hair group over a shot; :meth:`at` gives every strand's
    positions and velocities at any time inside the simulated span.

    guides (T, G, P, 3) at steps ``t0 + k·dt`` (frames); heads (T, 4, 4) the head's matrices at
    the same steps.
    """

    points: np.ndarray
    owner: np.ndarray
    guide_rest: np.ndarray
    guides: np.ndarray
    heads: np.ndarray
    t0: float
    dt: float

    def _state(self, frame: float) -> tuple[np.ndarray, np.ndarray]:
        """(G, P, 3) guides and the (4, 4) head matrix, linearly between steps."""
        u = (frame - self.t0) / self.dt
        i = int(np.clip(np.floor(u), 0, len(self.heads) - 2))
        w = float(np.clip(u - i, 0.0, 1.0))
        g = (1 - w) * self.guides[i].astype(np.float64) + w * self.guides[i + 1]
        h = (1 - w) * self.heads[i] + w * self.heads[i + 1]
        # Re-orthonormalise the blended rotation (a blend of two rotations is not one).
        q, r = np.linalg.qr(h[:3, :3])
        h = h.copy()
        h[:3, :3] = q * np.sign(np.diag(r))[None, :]
        return g, h

    def at(self, frame: float, fps: float) -> tuple[np.ndarray, np.ndarray]:
        """Positions (S, P, 3) at ``frame`` (fractional) and velocities (S, P, 3) in m/s, from
        the strands a quarter step before and after (their mean is the position)."""
        eps = self.dt / 4
        ga, ha = self._state(frame - eps)
        gb, hb = self._state(frame + eps)
        a = follow(self.points, self.owner, self.guide_rest, ga, ha)
        b = follow(self.points, self.owner, self.guide_rest, gb, hb)
        return (a + b) / 2, (b - a) / (2 * eps) * fps
