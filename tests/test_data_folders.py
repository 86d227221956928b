"""VideoMatte-style folders composited online, and image matting sets as pseudo-clips."""

import cv2
import numpy as np
import pytest

from matting.data import ImageMatteSource, VideoMatteSource, synthetic
from matting.data.color import srgb_to_linear
from matting.data.imageio import read_alpha, read_rgb
from matting.data.images import motion_matrices

W, H = 32, 24


def _fg_alpha_bg(src, clip, bg_paths):
    """Foreground, alpha and background as stored, F and B decoded to linear light."""
    fg = np.stack([read_rgb(f) for f, _ in src.clips[clip.key.split("/")[0]]]).astype(np.float32) / 255
    alpha = np.stack([read_alpha(a) for _, a in src.clips[clip.key.split("/")[0]]])
    bg = np.stack([read_rgb(p) for p in bg_paths]).astype(np.float32) / 255
    return srgb_to_linear(fg), alpha, srgb_to_linear(bg)


def test_composite_over_a_still(tmp_path):
    root = synthetic.write_videomatte(tmp_path / "vm", clips=1, frames=4, width=W, height=H)
    bgs = synthetic.write_backgrounds(tmp_path / "bg", stills=1, videos=0, width=W, height=H)
    src = VideoMatteSource(root, bgs, clip_len=4)
    assert len(src) == 1
    clip = src.load(0, np.random.default_rng(0))
    assert clip.rgb.shape == (4, H, W, 3) and clip.rgb.dtype == np.float32 and clip.transfer == "linear"
    assert clip.frame_keys == tuple(f"clip00/{i:04d}" for i in range(4))
    fg, alpha, bg = _fg_alpha_bg(src, clip, [bgs / "bg00.png"] * 4)
    a = alpha[..., None]
    assert np.allclose(clip.rgb, a * fg + (1 - a) * bg, atol=1e-6)  # I = aF + (1 - a)B in linear light
    # ... not in display values (the composite of the stored codes, decoded), which differ at the edge.
    codes = [
        np.stack([read_rgb(p) for p in paths]).astype(np.float32) / 255
        for paths in ([f for f, _ in src.clips["clip00"]], [bgs / "bg00.png"] * 4)
    ]
    in_display = srgb_to_linear(a * codes[0] + (1 - a) * codes[1])
    edge = (alpha > 0.1) & (alpha < 0.9)
    assert edge.any() and np.abs(clip.rgb[edge] - in_display[edge]).max() > 0.01
    assert np.array_equal(clip.alpha, alpha)


def test_video_background_frames_are_consecutive(tmp_path):
    root = synthetic.write_videomatte(tmp_path / "vm", clips=2, frames=5, width=W, height=H)
    bgs = synthetic.write_backgrounds(tmp_path / "bg", stills=0, videos=1, frames=7, width=W, height=H)
    src = VideoMatteSource(root, bgs, clip_len=3)
    assert len(src) == 2 * 3
    video = [
        srgb_to_linear(read_rgb(p).astype(np.float32) / 255) for p in sorted((bgs / "video00").glob("*.png"))
    ]
    for seed in range(4):
        clip = src.load(seed % len(src), np.random.default_rng(seed))
        clear = clip.alpha == 0  # where the background shows through untouched
        used = []
        for t in range(3):
            hits = [
                i for i, b in enumerate(video) if np.allclose(clip.rgb[t][clear[t]], b[clear[t]], atol=1e-6)
            ]
            assert len(hits) == 1
            used.append(hits[0])
        assert used == list(range(used[0], used[0] + 3))


def test_backgrounds_are_fitted_to_the_foreground(tmp_path):
    root = synthetic.write_videomatte(tmp_path / "vm", clips=1, frames=4, width=W, height=H)
    bgs = synthetic.write_backgrounds(tmp_path / "bg", stills=1, videos=0, width=20, height=50)
    clip = VideoMatteSource(root, bgs).load(0, np.random.default_rng(0))
    assert clip.rgb.shape == (4, H, W, 3)


def test_videomatte_errors(tmp_path):
    root = synthetic.write_videomatte(tmp_path / "vm", clips=1, frames=4)
    bgs = synthetic.write_backgrounds(tmp_path / "bg", stills=1, videos=0)
    with pytest.raises(FileNotFoundError, match="background folder does not exist"):
        VideoMatteSource(root, tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no background images"):
        VideoMatteSource(root, tmp_path / "empty")
    with pytest.raises(ValueError, match="no clip has 5 frames"):
        VideoMatteSource(root, bgs, clip_len=5)
    with pytest.raises(FileNotFoundError, match="no fgr/"):
        VideoMatteSource(tmp_path, bgs)
    (root / "pha" / "clip00" / "0002.png").unlink()
    with pytest.raises(FileNotFoundError, match="no alpha frame '0002'"):
        VideoMatteSource(root, bgs)


def test_image_pseudo_clip_moves(tmp_path):
    root = synthetic.write_image_matte(tmp_path / "im", count=2, width=W, height=H)
    src = ImageMatteSource(root, clip_len=4, motion=0.05)
    assert len(src) == 2
    clip = src.load(1, np.random.default_rng(5))
    img, alpha = read_rgb(root / "images" / "img01.png"), read_alpha(root / "alphas" / "img01.png")
    assert clip.key == "img01" and clip.rgb.shape == (4, H, W, 3) and clip.alpha.shape == (4, H, W)
    assert np.array_equal(clip.rgb[0], img) and np.allclose(clip.alpha[0], alpha)
    for t in range(1, 4):
        assert not np.array_equal(clip.alpha[t], clip.alpha[t - 1])  # every frame moves
    # Image and alpha move together: both follow the same affine warp.
    mats = motion_matrices(4, H, W, 0.05, np.random.default_rng(5))
    kw = {"flags": cv2.INTER_LINEAR, "borderMode": cv2.BORDER_REFLECT_101}
    for t, m in enumerate(mats):
        assert np.array_equal(clip.rgb[t], cv2.warpAffine(img, m, (W, H), **kw))
        assert np.allclose(clip.alpha[t], np.clip(cv2.warpAffine(alpha, m, (W, H), **kw), 0, 1))
    still = ImageMatteSource(root, clip_len=3, motion=0.0).load(0, np.random.default_rng(0))
    assert all(np.array_equal(still.rgb[t], still.rgb[0]) for t in range(3))


def test_image_matte_errors(tmp_path):
    root = synthetic.write_image_matte(tmp_path / "im", count=2)
    (root / "alphas" / "img01.png").unlink()
    with pytest.raises(FileNotFoundError, match="no alpha for image img01.png"):
        ImageMatteSource(root)
    with pytest.raises(FileNotFoundError, match="no images/ folder"):
        ImageMatteSource(tmp_path)
