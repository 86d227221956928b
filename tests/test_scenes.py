"""The scene catalog: 22 places with interiors, night light and clutter; rooms that hold their
cameras; a view per camera; per-shot exposure drawn apart from everything else."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from render.catalog import load_clips, load_scenes
from render.config import ConfigError, load_config
from render.layout import ROOM_KINDS, Prop, clear_for_shot, room_props, scene_props
from render.plan import ShotSpec, plan_shots
from render.timeline import root_and_camera

CLUTTER = ("plant", "shelf", "desk", "sofa", "poster", "lamp")


@pytest.fixture(scope="module")
def plan():
    cfg = load_config(None, {})
    scenes = load_scenes(cfg.scene_catalog_path())
    clips = load_clips(cfg.clip_catalog_path())
    return cfg, {s["name"]: s for s in scenes}, clips, plan_shots(cfg, [s["name"] for s in scenes], clips)


def test_catalog_has_22_places_with_interiors_night_and_clutter_in_each(plan):
    _, scenes, _, _ = plan
    kinds = [s["kind"] for s in scenes.values()]
    assert len(scenes) == 22 and kinds.count("interior") >= 6 and kinds.count("night") >= 3
    for name, s in scenes.items():
        props = scene_props(s)
        clutter = [p for p in props if p.kind in CLUTTER or p.leaves]
        assert len(clutter) >= 4, name  # leaf cards, furniture or text in every place
        if s["kind"] == "interior":
            panels = [p for p in props if p.kind == "light_panel"]
            assert s["sky"]["type"] == "color" and len(panels) >= 4 and all(p.lit > 0 for p in panels), name
            assert sum(p.kind == "room_wall" for p in props) == 4, name
        if s["kind"] == "night":
            assert s["sky"]["sun_elevation"] < 0, name  # no sun: the lamps, signs and windows light it
            assert any(p.kind == "lamp" and p.lit > 0 for p in props), name
            assert any(p.kind == "building" and p.lit > 0 for p in props), name
            assert any(p.kind == "poster" and p.lit > 0 for p in props), name


def test_old_scenes_keep_their_props_where_they_were(plan):
    """Clutter draws after a scene's earlier props: a day scene's buildings and trees stand where
    they did before it was added (the first two of city_plaza, recorded before)."""
    _, scenes, _, _ = plan
    first = scene_props(scenes["city_plaza"])[:2]
    assert [(p.kind, p.x, p.y, p.height) for p in first] == [
        (p.kind, p.x, p.y, p.height)
        for p in scene_props({**scenes["city_plaza"], "props": scenes["city_plaza"]["props"][:2]})[:2]
    ]


def _state(eye, root):
    from render.timeline import FrameState

    cam = np.eye(4)
    cam[:3, 3] = eye
    return FrameState(
        index=0,
        clip_time=0.0,
        root=tuple(root),
        heading_deg=0.0,
        origin=tuple(root),
        bones={},
        cam_to_world=cam,
    )


def test_room_walls_go_only_when_the_camera_looks_in_from_outside():
    room = room_props({"room": {"size": [10, 8], "height": 3.0, "light_power": 20}})
    walls = [p for p in room if p.kind == "room_wall"]
    inside = clear_for_shot(room, [_state((3.0, 2.0, 1.5), (0.0, 0.0, 0.0))])
    assert sorted(p.kind for p in inside) == sorted(p.kind for p in room)  # everything stays
    outside = clear_for_shot(room, [_state((0.0, 7.0, 1.5), (0.0, 0.0, 0.0))])
    gone = [p for p in walls if p not in outside]
    assert len(gone) == 1 and gone[0].y == pytest.approx(4.0)  # the wall between them
    assert all(p in outside for p in room if p.kind in ("ceiling", "light_panel"))
    # Walls face the stage: each one's local -y points at the origin.
    for w in walls:
        t = np.radians(w.rotation_deg)
        inward = np.array([np.sin(t), -np.cos(t)])
        assert inward @ -np.array([w.x, w.y]) > 0, w


def test_interior_cameras_and_characters_stay_inside_their_rooms(plan):
    _, scenes, clips, shots = plan
    for s in shots:
        room = scenes[s.scene].get("room")
        if not room:
            continue
        w, d = room["size"]
        n = s.frame_count
        for root, cam in root_and_camera(s, clips[s.animation.clip], [0, n // 2, n - 1]):
            eye = cam[:3, 3]
            assert abs(eye[0]) < w / 2 - 0.3 and abs(eye[1]) < d / 2 - 0.3 and eye[2] < room["height"], (
                s.shot_id
            )
            assert abs(root[0]) < w / 2 - 0.5 and abs(root[1]) < d / 2 - 0.5, s.shot_id


def test_every_scene_hosts_its_cameras_without_repeating_a_view(plan):
    """The ~41 shots of a scene see it from different places: no two first-frame cameras within
    0.3 m and 2° of each other."""
    _, scenes, clips, shots = plan
    for name in scenes:
        mine = [s for s in shots if s.scene == name]
        assert len(mine) >= 40
        cams = [root_and_camera(s, clips[s.animation.clip], [0])[0][1] for s in mine]
        eyes = np.array([c[:3, 3] for c in cams])
        ahead = np.array([-c[:3, 2] for c in cams])
        for i, j in itertools.combinations(range(len(mine)), 2):
            near = np.linalg.norm(eyes[i] - eyes[j]) < 0.3
            same = np.degrees(np.arccos(np.clip(ahead[i] @ ahead[j], -1, 1))) < 2.0
            assert not (near and same), (name, mine[i].shot_id, mine[j].shot_id)


def test_exposure_is_drawn_per_shot_from_its_own_stream(plan):
    cfg, scenes, clips, shots = plan
    lo, hi = cfg.exposure
    ev = [s.camera.exposure_ev for s in shots]
    assert min(ev) >= lo and max(ev) <= hi and np.std(ev) > 0.2
    flat = plan_shots(dataclasses.replace(cfg, exposure=(0.0, 0.0), cams=60), list(scenes), clips)
    for a, b in zip(flat, shots[:60], strict=True):
        assert a.camera.exposure_ev == 0.0
        assert (
            dataclasses.replace(a, camera=dataclasses.replace(a.camera, exposure_ev=b.camera.exposure_ev))
            == b
        )
    line = shots[0].to_json()
    del line["camera"]["exposure_ev"]
    assert ShotSpec.from_json(line).camera.exposure_ev == 0.0  # plans from before it
    with pytest.raises(ConfigError, match="exposure"):
        load_config(None, {"exposure": [1.0, -1.0]})


def test_a_character_down_on_the_floor_is_not_buried_by_props_or_its_occluder():
    from render.layout import occluder_for_shot

    bush = Prop("plant", 1.0, 0.0, 0.6, 1.0, 1.0, 0.0, (0.1, 0.2, 0.05))
    standing = _state((3.0, 0.0, 1.6), (0.0, 0.0, 0.0))
    lying = _state((3.0, 0.0, 1.6), (0.0, 0.0, -0.6))
    assert clear_for_shot([bush], [standing]) == [bush]  # under a standing body's hips
    assert clear_for_shot([bush], [lying]) == []
    cfg = load_config(None, {"cams": 40, "scenes": 2})
    shots = plan_shots(cfg, ["a", "b"], ["idle"])
    hedges = 0
    for s in shots:
        low = occluder_for_shot(s, [lying] * 3)
        high = occluder_for_shot(s, [standing] * 3)
        if high.kind == "hedge":
            hedges += 1
            assert low.height < high.height * 0.5
        else:
            assert low == high
    assert hedges > 0


def test_furniture_faces_the_stage_and_clutter_stands_clear(plan):
    """Shelves, sofas, desks and posters turn their fronts (local -y) to the stage; clutter
    stands clear of every other prop's footprint and, indoors, inside its room."""
    from render.layout import CLUTTER, FACING

    _, scenes, _, _ = plan
    facing = 0
    for name, s in scenes.items():
        props = [p for p in scene_props(s) if p.kind not in ROOM_KINDS]
        for p in props:
            if p.kind in FACING:
                t = np.radians(p.rotation_deg)
                front = np.array([np.sin(t), -np.cos(t)])
                assert front @ (-np.array([p.x, p.y]) / np.hypot(p.x, p.y)) > 0.99, (name, p)
                facing += 1
            if p.kind in CLUTTER or s.get("room"):
                for q in props:
                    if q is not p:
                        assert np.hypot(p.x - q.x, p.y - q.y) > p.radius + q.radius, (name, p.kind, q.kind)
            if s.get("room"):
                w, d = s["room"]["size"]
                assert abs(p.x) + p.radius < w / 2 and abs(p.y) + p.radius < d / 2, (name, p)
    assert facing > 50


def test_room_kinds_are_not_catalog_prop_types():
    from render.catalog import PROP_TYPES

    assert not set(ROOM_KINDS) & set(PROP_TYPES)
