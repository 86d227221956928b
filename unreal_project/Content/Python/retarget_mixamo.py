"""Import Mixamo FBX clips and retarget them onto the MetaHuman body, one asset per clip id:

    py retarget_mixamo.py <folder of FBX> <dest /Game path> [<clip map .json|.yaml>]

The clip map (default: clips.json, else clips.yaml, in the FBX folder) maps our clip id to an
FBX file name. The first FBX is imported with its mesh (the Mixamo skeleton and the IK Rig's
source mesh), the others as animation on that skeleton. Each clip is retargeted with an IK
Retargeter (Mixamo rig -> MetaHuman rig), named <dest>/<clip id>, and set to play in place
(root motion off, root lock forced): the shot's transform keys move the character.
"""

from __future__ import annotations

import json
import os
import sys

import unreal
from amatte4k.props import set_props

STAGING = "Mixamo"  # subfolder of dest for the imported Mixamo assets
RETARGET_SUFFIX = "_MH"
MH_TARGET_MESH = "/Game/MetaHumans/Common/Male/Medium/NormalWeight/Body/m_med_nrw_body"  # UNCONFIRMED
MH_TARGET_RIG = "/MetaHumanCreator/Animation/Retargeting/IK_MH_IKRig"  # UNCONFIRMED mount of the docs path
# Ways to call the batch retarget, newest first: (name, UE version that introduced it).
BATCH_VARIANTS = (
    ("run_batch_retarget", "5.6+ (IKRetargetBatchOperationInputs)"),
    ("duplicate_and_retarget_57", "5.4-5.7 (include_referenced_assets, overwrite_existing_files)"),
    ("duplicate_and_retarget_53", "5.3 (remap_referenced_assets)"),
)


def parse_clip_map(text: str, yaml_like: bool) -> dict[str, str]:
    """clip id -> FBX file name from JSON, or from flat `id: file.fbx` lines (the YAML subset
    our catalogs use; the editor's Python has no YAML module). ValueError on anything else."""
    if not yaml_like:
        mapping = json.loads(text)
    else:
        mapping = {}
        for n, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            key, sep, value = line.partition(":")
            if not sep or not key.strip() or not value.strip():
                raise ValueError(f"clip map line {n} is not 'clip_id: file.fbx': {line!r}")
            mapping[key.strip()] = value.strip().strip("'\"")
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ValueError("clip map must map clip ids to FBX file names")
    return mapping


def choose_batch_variants(batch_names: set[str], has_inputs_struct: bool) -> list[str]:
    """The BATCH_VARIANTS to try, newest first, given the attribute names of
    unreal.IKRetargetBatchOperation and whether unreal.IKRetargetBatchOperationInputs exists.
    duplicate_and_retarget's arguments changed without a rename, so both of its variants are
    tried in turn (a TypeError on the newer keywords falls back to the 5.3 one)."""
    out = []
    if "run_batch_retarget" in batch_names and has_inputs_struct:
        out.append("run_batch_retarget")
    if "duplicate_and_retarget" in batch_names:
        out += ["duplicate_and_retarget_57", "duplicate_and_retarget_53"]
    return out


def clip_of_output(asset_name: str) -> str:
    """Our clip id from a retargeted asset's name (<clip id><RETARGET_SUFFIX>)."""
    return asset_name[: -len(RETARGET_SUFFIX)] if asset_name.endswith(RETARGET_SUFFIX) else asset_name


def _load(path: str) -> object:
    asset = unreal.EditorAssetLibrary.load_asset(path)
    if asset is None:
        raise RuntimeError(f"asset {path} not found")
    return asset


def import_fbx(fbx: str, dest: str, name: str, skeleton: object | None) -> list[str]:
    """Import one Mixamo FBX as <dest>/<name>; with a skeleton, animation only on it.
    Returns the imported object paths."""
    options = unreal.FbxImportUI()
    options.set_editor_property("import_as_skeletal", True)
    options.set_editor_property("import_animations", True)
    options.set_editor_property("import_materials", False)
    options.set_editor_property("import_textures", False)
    options.set_editor_property("automated_import_should_detect_type", False)
    if skeleton is None:
        options.set_editor_property("import_mesh", True)
        options.set_editor_property("mesh_type_to_import", unreal.FBXImportType.FBXIT_SKELETAL_MESH)
    else:
        options.set_editor_property("import_mesh", False)
        options.set_editor_property("skeleton", skeleton)
        options.set_editor_property("mesh_type_to_import", unreal.FBXImportType.FBXIT_ANIMATION)
    task = set_props(
        unreal.AssetImportTask(),
        {
            "filename": fbx,
            "destination_path": dest,
            "destination_name": name,
            "automated": True,
            "replace_existing": True,
            "save": True,
            "options": options,
        },
    )
    unreal.AssetToolsHelpers.get_asset_tools().import_asset_tasks([task])
    paths = list(task.get_editor_property("imported_object_paths"))
    if not paths:
        raise RuntimeError(f"{fbx} imported nothing")
    return paths


def _asset(path: str, cls: type, factory: object) -> object:
    """Load `path`, or create it as a `cls` asset."""
    if unreal.EditorAssetLibrary.does_asset_exist(path):
        return _load(path)
    folder, name = path.rsplit("/", 1)
    return unreal.AssetToolsHelpers.get_asset_tools().create_asset(name, folder, cls, factory)


def mixamo_rig(path: str, mesh: object) -> object:
    """The Mixamo IK Rig at `path` with an auto-generated retarget definition."""
    rig = _asset(path, unreal.IKRigDefinition, unreal.IKRigDefinitionFactory())
    controller = unreal.IKRigController.get_controller(rig)
    controller.set_skeletal_mesh(mesh)
    if not controller.apply_auto_generated_retarget_definition():
        raise RuntimeError(
            "auto-characterization did not recognise the Mixamo skeleton; build the rig by hand"
        )
    return rig


def retargeter(path: str, source_rig: object, target_rig: object) -> object:
    """The Mixamo -> MetaHuman IK Retargeter at `path`, chains mapped by fuzzy name match."""
    rtg = _asset(path, unreal.IKRetargeter, unreal.IKRetargetFactory())
    controller = unreal.IKRetargeterController.get_controller(rtg)
    controller.set_ik_rig(unreal.RetargetSourceOrTarget.SOURCE, source_rig)
    controller.set_ik_rig(unreal.RetargetSourceOrTarget.TARGET, target_rig)
    controller.auto_map_chains(unreal.AutoMapChainType.FUZZY, True)
    return rtg


def _call_variant(variant: str, assets: list, src: object, tgt: object, rtg: object) -> list:
    op = unreal.IKRetargetBatchOperation
    if variant == "run_batch_retarget":
        inputs = set_props(
            unreal.IKRetargetBatchOperationInputs(),
            {
                "assets_to_retarget": assets,
                "source_mesh": src,
                "target_mesh": tgt,
                "ik_retarget_asset": rtg,
                "suffix": RETARGET_SUFFIX,
                "overwrite_existing_files": True,
            },
        )
        return op.run_batch_retarget(inputs)
    if variant == "duplicate_and_retarget_57":
        return op.duplicate_and_retarget(
            assets, src, tgt, rtg, "", "", "", RETARGET_SUFFIX,
            include_referenced_assets=False, overwrite_existing_files=True,
        )  # fmt: skip
    return op.duplicate_and_retarget(
        assets, src, tgt, rtg, "", "", "", RETARGET_SUFFIX, remap_referenced_assets=False
    )


def batch_retarget(assets: list, src: object, tgt: object, rtg: object) -> list:
    """Retarget `assets` (AssetData) with the newest API this engine has; returns new AssetData."""
    names = {
        n
        for n in ("run_batch_retarget", "duplicate_and_retarget")
        if hasattr(unreal.IKRetargetBatchOperation, n)
    }
    variants = choose_batch_variants(names, hasattr(unreal, "IKRetargetBatchOperationInputs"))
    if not variants:
        raise RuntimeError("this engine has no IKRetargetBatchOperation batch retarget")
    for variant in variants[:-1]:
        try:
            return list(_call_variant(variant, assets, src, tgt, rtg))
        except TypeError:  # the arguments of this variant do not match this engine
            unreal.log_warning(f"retarget_mixamo: {variant} does not fit this engine, trying the next")
    return list(_call_variant(variants[-1], assets, src, tgt, rtg))


def set_in_place(anim: object) -> None:
    """Root motion off, root locked at the first frame: the clip plays in place."""
    unreal.AnimationLibrary.set_root_motion_enabled(anim, False)
    unreal.AnimationLibrary.set_root_motion_lock_type(anim, unreal.RootMotionRootLock.ANIM_FIRST_FRAME)
    unreal.AnimationLibrary.set_is_root_motion_lock_forced(anim, True)


def read_clip_map(folder: str, given: str | None) -> dict[str, str]:
    """The clip map file given, else clips.json / clips.yaml in the FBX folder."""
    candidates = (
        [given] if given else [os.path.join(folder, n) for n in ("clips.json", "clips.yaml", "clips.yml")]
    )
    for path in candidates:
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return parse_clip_map(f.read(), yaml_like=not path.endswith(".json"))
    raise FileNotFoundError(f"no clip map among {candidates}")


def retarget_folder(folder: str, dest: str, clip_map_path: str | None = None) -> dict[str, str]:
    """Import, retarget and name every clip of the map; returns clip id -> asset path."""
    clips = read_clip_map(folder, clip_map_path)
    staging = f"{dest}/{STAGING}"
    mesh = skeleton = None
    imported: dict[str, object] = {}
    for clip_id, fbx_name in sorted(clips.items()):
        paths = import_fbx(os.path.join(folder, fbx_name), staging, clip_id, skeleton)
        for path in paths:
            asset = _load(path)
            if isinstance(asset, unreal.SkeletalMesh) and mesh is None:
                mesh, skeleton = asset, asset.get_editor_property("skeleton")
            elif isinstance(asset, unreal.AnimSequence):
                imported[clip_id] = asset
    if mesh is None:
        raise RuntimeError(f"the first FBX ({sorted(clips.items())[0][1]}) has no skeletal mesh")
    rig = mixamo_rig(f"{staging}/IK_Mixamo", mesh)
    rtg = retargeter(f"{staging}/RTG_Mixamo_to_MH", rig, _load(MH_TARGET_RIG))
    assets = [unreal.EditorAssetLibrary.find_asset_data(a.get_path_name()) for a in imported.values()]
    out: dict[str, str] = {}
    for data in batch_retarget(assets, mesh, _load(MH_TARGET_MESH), rtg):
        clip_id = clip_of_output(str(data.asset_name))
        target = f"{dest}/{clip_id}"
        if unreal.EditorAssetLibrary.does_asset_exist(target):
            unreal.EditorAssetLibrary.delete_asset(target)
        unreal.EditorAssetLibrary.rename_asset(str(data.package_name), target)
        anim = _load(target)
        set_in_place(anim)
        unreal.EditorAssetLibrary.save_loaded_asset(anim, False)
        out[clip_id] = target
    missing = sorted(set(clips) - set(out))
    if missing:
        raise RuntimeError(f"clips not retargeted: {', '.join(missing)}")
    return out


def main(argv: list[str]) -> None:
    """Command line: retarget_mixamo.py <folder of FBX> <dest /Game path> [<clip map>]."""
    if len(argv) not in (3, 4):
        unreal.log_error("usage: py retarget_mixamo.py <folder of FBX> <dest /Game path> [<clip map>]")
        return
    done = retarget_folder(argv[1], argv[2].rstrip("/"), argv[3] if len(argv) == 4 else None)
    unreal.log(f"retarget_mixamo: {len(done)} clips retargeted into {argv[2]}")


if __name__ == "__main__":
    main(sys.argv)
