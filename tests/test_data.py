"""restainaug.data readers, writers and folder pairing, on files the tests write themselves."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from restainaug.data import (
    Pair,
    pair_folders,
    read_image,
    read_labels,
    read_size,
    read_stack,
    write_image,
    write_labels,
)

RNG = np.random.default_rng(0)


def _rgb(h: int = 12, w: int = 16) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------- reading and writing


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_rgb_and_grey_round_trip_exactly(tmp_path: Path, suffix: str) -> None:
    rgb, grey = _rgb(), _rgb()[..., 0]
    out = read_image(write_image(tmp_path / f"rgb{suffix}", rgb))
    assert out.dtype == np.uint8 and np.array_equal(out, rgb)
    assert np.array_equal(read_image(write_image(tmp_path / f"g{suffix}", grey)), grey)
    assert read_size(tmp_path / f"rgb{suffix}") == (12, 16)


def test_jpeg_is_read_as_rgb_close_to_what_was_written(tmp_path: Path) -> None:
    smooth = np.repeat(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], 3, axis=2)
    smooth = np.repeat(smooth, 16, axis=0)
    out = read_image(write_image(tmp_path / "a.jpeg", smooth))
    assert out.shape == (16, 32, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - smooth).mean() < 3


def test_16bit_png_keeps_its_values(tmp_path: Path) -> None:
    a = (np.arange(12 * 16).reshape(12, 16) * 300).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.uint16 and np.array_equal(out, a)


@pytest.mark.parametrize("backend", ["tifffile", "pillow"])
def test_float_tiff_with_either_backend(tmp_path: Path, backend: str, monkeypatch) -> None:
    a = RNG.random((10, 14)).astype(np.float32) * 50
    tifffile.imwrite(tmp_path / "f.tif", a, compression="zlib")
    if backend == "pillow":
        monkeypatch.setitem(sys.modules, "tifffile", None)
    out = read_image(tmp_path / "f.tif")
    assert out.dtype == np.float32 and np.array_equal(out, a)


def test_lzw_tiff_reads_with_or_without_imagecodecs(tmp_path: Path) -> None:
    from PIL import Image

    a = RNG.random((10, 14)).astype(np.float32)
    Image.fromarray(a).save(tmp_path / "f.tif", compression="tiff_lzw")  # as Vectra writes them
    assert np.array_equal(read_image(tmp_path / "f.tif"), a)


def test_pillow_takes_over_when_tifffile_fails(tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    a = RNG.random((10, 14)).astype(np.float32)
    Image.fromarray(a).save(tmp_path / "f.tif", compression="tiff_lzw")

    def broken(*args, **kwargs):
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile, "TiffFile", broken)
    assert np.array_equal(read_image(tmp_path / "f.tif"), a)


def test_16bit_rgb_tiff_keeps_16_bits(tmp_path: Path) -> None:
    a = RNG.integers(0, 65536, (8, 9, 3)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="rgb")
    out = read_image(tmp_path / "a.tif")
    assert out.dtype == np.uint16 and np.array_equal(out, a)


def test_multipage_tiff_needs_a_page_or_read_stack(tmp_path: Path) -> None:
    a = RNG.random((5, 10, 14)).astype(np.float32)
    tifffile.imwrite(tmp_path / "s.tif", a)
    with pytest.raises(ValueError, match=r"5 pages.*read_stack"):
        read_image(tmp_path / "s.tif")
    assert np.array_equal(read_image(tmp_path / "s.tif", page=2), a[2])
    with pytest.raises(ValueError, match="page=7"):
        read_image(tmp_path / "s.tif", page=7)
    stack = read_stack(tmp_path / "s.tif")
    assert stack.shape == (5, 10, 14) and np.array_equal(stack, a)


def test_read_stack_skips_pages_of_another_shape_and_reads_planar_channels(tmp_path) -> None:
    a = RNG.random((3, 10, 14)).astype(np.float32)
    with tifffile.TiffWriter(tmp_path / "s.tif") as tw:
        for plane in a:
            tw.write(plane)
        tw.write(_rgb(4, 5), photometric="rgb")  # a thumbnail
    assert np.array_equal(read_stack(tmp_path / "s.tif"), a)
    planar = RNG.random((4, 10, 14)).astype(np.float32)
    tifffile.imwrite(tmp_path / "p.tif", planar, photometric="minisblack", planarconfig="separate")
    assert np.array_equal(read_stack(tmp_path / "p.tif"), planar)
    rgb = _rgb()
    assert np.array_equal(read_stack(write_image(tmp_path / "c.png", rgb)), rgb.transpose(2, 0, 1))


def test_missing_and_corrupted_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothere\.png"):
        read_image(tmp_path / "nothere.png")
    good = write_image(tmp_path / "good.png", _rgb(64, 64))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    fake_tiff = tmp_path / "fake.tif"
    fake_tiff.write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    text = tmp_path / "text.png"
    text.write_text("not an image")
    for bad in (truncated, fake_tiff, text):
        with pytest.raises(ValueError, match=f"Cannot read image .*{bad.name}"):
            read_image(bad)
        with pytest.raises(ValueError, match=bad.name):
            read_labels(bad)
    with pytest.raises(ValueError, match="directory"):
        read_image(tmp_path)


def test_labels_round_trip_in_png_and_tiff(tmp_path: Path) -> None:
    small = RNG.integers(0, 60000, (12, 16))
    path = write_labels(tmp_path / "l.png", small)
    with Image.open(path) as im:
        assert im.mode == "I;16"
    out = read_labels(path)
    assert out.dtype == np.int32 and np.array_equal(out, small)
    big = small * 7
    with pytest.raises(ValueError, match=r"16-bit PNG.*\.tif"):
        write_labels(tmp_path / "big.png", big)
    assert np.array_equal(read_labels(write_labels(tmp_path / "big.tif", big)), big)
    assert np.array_equal(read_labels(write_labels(tmp_path / "b.tif", small > 5)), small > 5)


def test_labels_refuse_colour_images_but_accept_grey_rgb(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"colour.*colour.png|colour.png.*colour"):
        read_labels(write_image(tmp_path / "colour.png", _rgb()))
    ids = RNG.integers(0, 9, (12, 16)).astype(np.uint8)
    grey_rgb = write_image(tmp_path / "grey.png", np.repeat(ids[..., None], 3, axis=2))
    assert np.array_equal(read_labels(grey_rgb), ids)


def test_palette_labels_give_their_indices(tmp_path: Path) -> None:
    ids = RNG.integers(0, 5, (12, 16)).astype(np.uint8)
    im = Image.frombytes("P", (16, 12), ids.tobytes())
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9, 200, 100, 50])
    im.save(tmp_path / "p.png")
    assert np.array_equal(read_labels(tmp_path / "p.png"), ids)
    assert read_image(tmp_path / "p.png").shape == (12, 16, 3)  # colours for read_image


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.full((4, 4), 1.5, np.float32), "whole numbers"),
        (np.full((4, 4), -2, np.int32), ">= 0"),
    ],
)
def test_bad_label_values_are_refused(tmp_path: Path, labels, match: str) -> None:
    tifffile.imwrite(tmp_path / "bad.tif", labels)
    with pytest.raises(ValueError, match=match):
        read_labels(tmp_path / "bad.tif")
    with pytest.raises(ValueError, match=match):
        write_labels(tmp_path / "bad2.tif", labels)


def test_writers_validate_replace_atomically_and_make_folders(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"uint8.*astype"):
        write_image(tmp_path / "f.png", np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\.gif"):
        write_image(tmp_path / "f.gif", _rgb())
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        write_image(tmp_path / "f.png", np.zeros((4, 4, 2), np.uint8))
    target = tmp_path / "deep" / "er" / "x.png"
    write_image(target, _rgb())
    second = _rgb()
    write_image(target, second)
    assert np.array_equal(read_image(target), second)
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.png"]  # no temporary files
    reference = tmp_path / "plain.txt"
    reference.write_text("")
    assert target.stat().st_mode == reference.stat().st_mode  # not private like mkstemp's


def test_written_tiffs_read_without_tifffile(tmp_path: Path, monkeypatch) -> None:
    labels = RNG.integers(0, 2**20, (12, 16))
    image = _rgb()
    write_labels(tmp_path / "l.tif", labels)
    write_image(tmp_path / "i.tiff", image)
    monkeypatch.setitem(sys.modules, "tifffile", None)
    assert np.array_equal(read_labels(tmp_path / "l.tif"), labels)
    assert np.array_equal(read_image(tmp_path / "i.tiff"), image)


# ---------------------------------------------------------------- pairing folders


def _pair_tree(root: Path, images: list[str], labels: list[str]) -> tuple[Path, Path]:
    for name in images:
        write_image(root / "img" / name, _rgb())
    for name in labels:
        write_labels(root / "lab" / name, np.ones((12, 16), np.int32))
    (root / "img").mkdir(exist_ok=True)
    (root / "lab").mkdir(exist_ok=True)
    return root / "img", root / "lab"


def test_pairs_by_stem_with_label_suffixes(tmp_path: Path) -> None:
    idir, ldir = _pair_tree(
        tmp_path, ["b.png", "a.jpg", "c_1.tif"], ["a_mask.png", "b.png", "c_1_Labels.tif"]
    )
    (ldir / "notes.txt").write_text("ignored")
    pairs = pair_folders(idir, ldir)
    assert [(p.image.name, p.labels.name) for p in pairs] == [
        ("a.jpg", "a_mask.png"),
        ("b.png", "b.png"),
        ("c_1.tif", "c_1_Labels.tif"),
    ]
    image, labels = pairs[0].read()
    assert image.shape == (12, 16, 3) and labels.dtype == np.int32
    assert len(pair_folders(idir, ldir, pattern="a*")) == 1


def test_unmatched_files_are_listed_with_counts(tmp_path: Path) -> None:
    names = [f"im{i}.png" for i in range(7)]
    idir, ldir = _pair_tree(
        tmp_path,
        [*names, "solo.png"],
        [n.replace(".", "_mask.") for n in names] + ["orphan_mask.png"],
    )
    with pytest.raises(ValueError) as err:
        pair_folders(idir, ldir)
    msg = str(err.value)
    assert "1 image(s)" in msg and "solo.png" in msg
    assert "1 label file(s)" in msg and "orphan_mask.png" in msg
    assert len(pair_folders(idir, ldir, strict=False)) == 7
    many, _ = _pair_tree(tmp_path / "many", names, [])
    with pytest.raises(ValueError, match=r"7 image\(s\).*im0.png.*im4.png, \.\.\."):
        pair_folders(many, tmp_path / "many" / "lab")


def test_duplicate_stems_are_refused(tmp_path: Path) -> None:
    idir, ldir = _pair_tree(tmp_path, ["a.png", "a.tif"], ["a_mask.png"])
    with pytest.raises(ValueError, match=r"duplicate image.*a\.png.*a\.tif"):
        pair_folders(idir, ldir)
    idir, ldir = _pair_tree(tmp_path / "2", ["a.png"], ["a_mask.png", "a_label.png"])
    with pytest.raises(ValueError, match=r"duplicate label.*a_label\.png.*a_mask\.png"):
        pair_folders(idir, ldir)


def test_size_mismatch_names_both_files_and_sizes(tmp_path: Path) -> None:
    idir, ldir = _pair_tree(tmp_path, ["a.png"], [])
    write_labels(ldir / "a_mask.png", np.ones((10, 16), np.int32))
    (pair,) = pair_folders(idir, ldir)
    pattern = r"a\.png is 12x16.*a_mask\.png are 10x16"
    with pytest.raises(ValueError, match=pattern):
        pair.read()
    with pytest.raises(ValueError, match=pattern):
        pair_folders(idir, ldir, check_sizes=True)


def test_one_folder_holds_images_and_labels(tmp_path: Path) -> None:
    write_image(tmp_path / "x.png", _rgb())
    write_labels(tmp_path / "x_mask.png", np.ones((12, 16), np.int32))
    assert pair_folders(tmp_path, tmp_path) == [Pair(tmp_path / "x.png", tmp_path / "x_mask.png")]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        pair_folders(tmp_path / "nowhere", tmp_path)
