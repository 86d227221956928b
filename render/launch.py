"""``python -m render.launch``: plan an αMatte4K dataset and render it on Ray, resumably.

Everything is validated before anything is written: a bad count, resolution, config file,
asset path or Ray address gives a one-line ``error:`` and exit status 2. Re-running the same
command resumes: shots with a record in ``manifests/shots/`` are skipped.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

import click
import yaml

from render.backends import SUPPORTED_PASSES
from render.catalog import load_clips, load_scenes
from render.config import ConfigError, DatasetConfig, config_from_dict, load_config, parse_yaml
from render.identity import dataset_identity, digest, identity_change
from render.lock import Lease, LeaseLost, LockedError
from render.manifest import CONFIG, INDEX, PLAN, build_index, load_shot_records
from render.plan import plan_bytes, plan_shots, summary
from render.store import Location, StoreError, is_url


def check_address(address: str | None, timeout: float = 3.0) -> None:
    """A Ray address must answer on its port before we plan anything (``auto`` is left to Ray)."""
    if address is None or address == "auto":
        return
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    if parsed.scheme not in ("ray", "http", "https") or not parsed.hostname or not parsed.port:
        raise ConfigError(f"address {address!r}: expected HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(f"address {address}: no Ray cluster reachable ({exc.strerror or exc})") from exc


def check_passes(cfg: DatasetConfig) -> None:
    """Every requested pass must be one the backend can make."""
    can = SUPPORTED_PASSES.get(cfg.backend, ())
    missing = [p for p in cfg.passes if p not in can]
    if missing:
        raise ConfigError(
            f"passes: backend {cfg.backend} cannot make {', '.join(missing)} (it makes {', '.join(can)}; "
            f"set passes: [{', '.join(p for p in cfg.passes if p in can)}] in --config)"
        )


def check_unreal_engine(cfg: DatasetConfig) -> None:
    """Backend unreal: the engine can be reached (attach) or launched (one-line errors)."""
    if cfg.backend != "unreal":
        if cfg.unreal.endpoint:
            raise ConfigError("--unreal-endpoint: only with --backend unreal")
        return
    from render.backends.unreal import preflight  # the engine client, only for this backend

    try:
        if cfg.unreal.endpoint:
            preflight.probe(
                cfg.unreal.endpoint,
                cfg.unreal.inbox,
                heartbeat=min(cfg.unreal.stall_timeout, preflight.HEARTBEAT_SECONDS),
            )
        else:
            preflight.check_launch(cfg.unreal, local=cfg.address is None)
    except preflight.PreflightError as exc:
        raise ConfigError(str(exc)) from None


def check_unreal_assets(cfg: DatasetConfig, scenes: list[dict], clips: dict, shots) -> dict | None:
    """Backend unreal: every shot's scene, clip and identity has its UE asset path; the
    MetaHuman catalog. None for other backends."""
    if cfg.backend != "unreal":
        return None
    from render.backends.unreal import preflight
    from render.catalog import load_metahumans

    metahumans = load_metahumans(cfg.unreal.metahumans_path())
    try:
        preflight.check_assets(shots, {s["name"]: s for s in scenes}, clips, metahumans)
    except preflight.PreflightError as exc:
        raise ConfigError(str(exc)) from None
    return metahumans


def check_paths(cfg: DatasetConfig, scenes: list[dict]) -> None:
    hdri = cfg.assets.hdri_dir
    if hdri is not None and not Path(hdri).is_dir():
        raise ConfigError(f"assets.hdri_dir {hdri}: no such directory")
    used = scenes[: cfg.scenes]
    for s in used:
        if s["sky"]["type"] == "hdri":
            if hdri is None:
                raise ConfigError(f"scene {s['name']} needs an HDRI: set assets.hdri_dir")
            if not (Path(hdri) / s["sky"]["file"]).is_file():
                raise ConfigError(f"scene {s['name']}: HDRI {Path(hdri) / s['sky']['file']} not found")
    for key in ("out", "manifests"):
        where = getattr(cfg, key)
        if is_url(where):
            continue
        p = Path(where)
        if p.exists() and not p.is_dir():
            raise ConfigError(f"{key} {p}: exists and is not a directory")
    if is_url(cfg.manifests) and not is_url(cfg.out):
        raise ConfigError(
            f"manifests {cfg.manifests} is in an object store but out {cfg.out} is a local path: "
            "readers of the manifests could not reach the shards; put out in a store too"
        )


def open_store(key: str, where: str) -> Location:
    """``out`` or ``manifests`` as a :class:`Location`, checked to be reachable (a one-line
    error for a missing package, bucket or credentials)."""
    try:
        loc = Location(where)
        loc.probe()
    except StoreError as exc:
        raise ConfigError(f"{key} {exc}") from exc
    return loc


def manifest_config(cfg: DatasetConfig, identity: dict) -> str:
    """``config.yaml``: the resolved config plus the dataset identity (catalog digests, engine
    and body-model versions)."""
    return cfg.to_yaml() + yaml.safe_dump({"identity": identity}, sort_keys=True)


def check_existing(cfg: DatasetConfig, manifest_dir: Location, plan: bytes, identity: dict) -> bool:
    """True when ``manifest_dir`` already holds this dataset (resume); an error when it holds
    another one."""
    if not manifest_dir.is_file(CONFIG):
        if manifest_dir.list("shots", suffix=".json"):
            raise ConfigError(f"{manifest_dir}: holds shot records but no {CONFIG}; use an empty --manifests")
        return False
    saved = parse_yaml(manifest_dir.read_text(CONFIG), manifest_dir.url(CONFIG))
    old_identity = saved.pop("identity", None)
    saved.setdefault("holdout", "shot")  # a dataset from before `holdout` drew val shots by share
    saved.setdefault("exposure", [0.0, 0.0])  # ... and before `exposure`, rendered every shot at 0
    old = config_from_dict(saved).content_dict()
    new = cfg.content_dict()
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if diff:
        raise ConfigError(
            f"{manifest_dir} holds a dataset with a different {diff[0]} ({old.get(diff[0])!r}, now "
            f"{new.get(diff[0])!r}); pass another --manifests to make a new dataset"
        )
    changed = identity_change(old_identity, identity)
    if changed:
        raise ConfigError(
            f"{manifest_dir} holds a dataset made from other inputs: {changed}; "
            "pass another --manifests to make a new dataset"
        )
    if manifest_dir.is_file(PLAN) and manifest_dir.read_bytes(PLAN) != plan:
        raise ConfigError(
            f"{manifest_dir.url(PLAN)}: differs from this config's plan (catalog changed?); use another --manifests"
        )
    return True


OWNER = ".dataset"  # in --out: the digest of the dataset whose shards live there


def dataset_token(cfg: DatasetConfig, identity: dict) -> str:
    return digest({"config": cfg.content_dict(), "identity": identity})


def check_out(cfg: DatasetConfig, out_root: Location, token: str) -> None:
    """An --out directory holds the shards of one dataset: another one (say, the same config with
    another --sampler-seed) would overwrite them under the same names."""
    if out_root.is_file(OWNER) and out_root.read_text(OWNER).strip() != token:
        raise ConfigError(
            f"out {cfg.out}: holds the shards of another dataset (same shot names would overwrite "
            "them); pass another --out"
        )


def parse_sampler_seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"sampler-seed {text!r}: expected a non-negative integer") from None
    if value < 0:
        raise ConfigError(f"sampler-seed {value}: expected a non-negative integer")
    return value


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000:
            return f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def print_summary(info: dict) -> None:
    click.echo(f"shots: {info['shots']} ({info['val_shots']} held out)   frames: {info['frames']}")
    sp = info["split"]
    if not info["val_shots"]:
        click.echo("held out: nothing (no val shots)")
        return
    held = f"held out: {sp['holdout']}"
    if sp["val_scenes"]:
        held += f"; scenes {', '.join(sp['val_scenes'])}"
    if sp["val_identities"]:
        held += f"; identities {', '.join(sp['val_identities'])}"
    click.echo(held + (f" ({sp['note']})" if sp["note"] else ""))
    click.echo(f"resolution: {info['resolution']}   estimated size: {_fmt_bytes(info['estimated_bytes'])}")
    click.echo("shots per scene: " + ", ".join(f"{k} {v}" for k, v in info["scenes"].items()))
    click.echo("clips: " + ", ".join(f"{k} {v}" for k, v in sorted(info["clips"].items())))
    click.echo("camera paths: " + ", ".join(f"{k} {v}" for k, v in sorted(info["presets"].items())))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=str, default=None, help="YAML config on top of the defaults.")
@click.option("--scenes", type=int, default=None, help="Scenes of the catalog to use (default 22).")
@click.option(
    "--cams", type=int, default=None, help="Camera positions = shots, spread over the scenes (default 900)."
)
@click.option("--frames", type=int, default=None, help="Mean frames per shot (default 130).")
@click.option("--resolution", type=str, default=None, help="WIDTHxHEIGHT (default 2160x3840).")
@click.option("--samples", type=int, default=None, help="Beauty samples per pixel.")
@click.option(
    "--alpha-samples",
    type=int,
    default=None,
    help="Alpha layer: at most this many samples per pixel (adaptive).",
)
@click.option("--seed", type=int, default=None, help="Dataset seed.")
@click.option(
    "--sampler-seed",
    type=str,
    default=None,
    help="Re-render with other sampling noise only (integer >= 0; default: derived from each shot).",
)
@click.option(
    "--fstop", type=str, default=None, help="f-number range LO,HI for depth of field (default 1.8,8)."
)
@click.option("--out", type=str, default=None, help="Shard root (default data/).")
@click.option("--manifests", type=str, default=None, help="Manifest directory (default manifests/).")
@click.option("--backend", type=str, default=None, help="blender (default) or unreal.")
@click.option(
    "--unreal-endpoint",
    type=str,
    default=None,
    help="With --backend unreal: HOST:PORT of a running engine's UnrealCV server (one worker; "
    "default: launch one engine per GPU from unreal.engine).",
)
@click.option("--workers", type=int, default=None, help="Render workers (0 = as many as fit on the nodes).")
@click.option(
    "--threads",
    type=int,
    default=None,
    help="Threads per worker (0 = the most at which the workers fit on the nodes).",
)
@click.option("--address", type=str, default=None, help="Ray cluster address (default: local Ray).")
@click.option("--retries", type=int, default=None, help="Retries of a failed shot.")
@click.option(
    "--scratch",
    type=str,
    default=None,
    help="Folder for render work directories on each node (default: the node's temp dir).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "gpu"]),
    default=None,
    help="Where Cycles renders: auto (an NVIDIA GPU when the node has one), cpu or gpu.",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan summary and exit; writes nothing but --plan-out."
)
@click.option(
    "--plan-out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="With --dry-run: write the plan it would render (plan.jsonl's JSON lines) to this file.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def main(config_path, dry_run, plan_out, quiet, unreal_endpoint, **flags) -> None:
    """Plan, render and package an αMatte4K dataset (resumable: re-run the same command)."""
    flags = {k: v for k, v in flags.items() if v is not None}
    if unreal_endpoint is not None:
        flags["unreal"] = {"endpoint": unreal_endpoint}
    lease = None
    try:
        if "sampler_seed" in flags:
            flags["sampler_seed"] = parse_sampler_seed(flags["sampler_seed"])
        cfg = load_config(config_path, flags)
        scenes = load_scenes(cfg.scene_catalog_path())
        clips = load_clips(
            cfg.clip_catalog_path(), cfg.assets.clip_folders(), lambda m: click.echo(m, err=True)
        )
        check_passes(cfg)
        if plan_out and not dry_run:
            raise ConfigError("--plan-out: only with --dry-run (a render writes plan.jsonl to its manifests)")
        if not dry_run:  # what needs no plan first: a bad path or address is told in a moment
            check_paths(cfg, scenes)
            check_address(cfg.address)
            check_unreal_engine(cfg)
        shots = plan_shots(cfg, [s["name"] for s in scenes], clips)
        if dry_run:
            print_summary(summary(cfg, shots))
            if plan_out:
                try:
                    Path(plan_out).write_bytes(plan_bytes(shots))
                except OSError as exc:
                    raise ConfigError(f"--plan-out {plan_out}: {exc.strerror or exc}") from None
                click.echo(f"plan: {len(shots)} shots -> {plan_out}")
            return
        metahumans = check_unreal_assets(cfg, scenes, clips, shots)
        manifest_dir = open_store("manifests", cfg.manifests)
        out_root = open_store("out", cfg.out)
        lease = Lease(manifest_dir)
        lease.acquire()  # one launcher per manifest directory, before anything is read or written
        plan = plan_bytes(shots)
        identity = dataset_identity(cfg.backend, scenes[: cfg.scenes], clips, metahumans)
        if "not installed" in identity["engine"]:
            raise ConfigError(
                f"backend {cfg.backend}: its engine package is missing here ({identity['engine']})"
            )
        resuming = check_existing(cfg, manifest_dir, plan, identity)
        token = dataset_token(cfg, identity)
        check_out(cfg, out_root, token)
    except (ConfigError, LockedError, StoreError) as exc:
        if lease is not None:
            with contextlib.suppress(OSError):
                lease.release()
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        _render(
            cfg, shots, scenes, clips, manifest_dir, out_root, plan, identity, resuming, token, quiet, lease
        )
    except LeaseLost as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except StoreError as exc:  # the store failed mid-run: what is recorded stays; re-run resumes
        click.echo(f"error: {exc}; re-run the same command to resume", err=True)
        sys.exit(2)
    finally:
        with contextlib.suppress(OSError):  # a store gone away: the lease goes stale in 5 minutes
            lease.release()


def _render(
    cfg, shots, scenes, clips, manifest_dir, out_root, plan, identity, resuming, token, quiet, lease
) -> None:
    if not resuming:
        manifest_dir.write_text(CONFIG, manifest_config(cfg, identity))
        manifest_dir.write_bytes(PLAN, plan)
    out_root.mkdir()
    if not out_root.is_file(OWNER):
        out_root.write_text(OWNER, token + "\n")
    done = load_shot_records(manifest_dir)
    todo = [s for s in shots if s.shot_id not in done]
    click.echo(f"plan: {len(shots)} shots, {len(done)} already done, {len(todo)} to render -> {manifest_dir}")
    if todo:
        from render.orchestrate import ClusterError, run  # Ray is imported only when there is work

        try:
            report = run(
                cfg,
                todo,
                {s["name"]: s for s in scenes},
                clips,
                out_root.root,
                manifest_dir.root,
                identity=identity,
                planned=len(shots),
                progress=not quiet,
                log=lambda m: click.echo(m, err=True),
                heartbeat=lease.renew,
            )
        except ClusterError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            index = build_index(manifest_dir, len(shots), cfg.seed)
            click.echo(
                f"\ninterrupted: {index['completed_shots']}/{len(shots)} shots complete; "
                "re-run the same command to resume",
                err=True,
            )
            sys.exit(130)
        click.echo(
            f"rendered {len(report.completed)} shot(s), {report.frames} frames in {report.wall_seconds:.1f} s "
            f"(render {report.render_seconds:.1f} s, packing {report.pack_seconds:.1f} s)"
        )
    index = build_index(manifest_dir, len(shots), cfg.seed)
    click.echo(
        f"shards:   {out_root.url('shards')}  ({len(index['shards'])} shards, {_fmt_bytes(index['bytes'])})"
    )
    click.echo(
        f"manifest: {manifest_dir.url(INDEX)}  ({index['completed_shots']}/{len(shots)} shots complete)"
    )
    if index["failed_shots"]:
        click.echo(
            f"failed:   {', '.join(index['failed_shots'])} (see {manifest_dir.url('failed')})", err=True
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
