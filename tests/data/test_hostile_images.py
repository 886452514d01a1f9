from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from PIL import Image

from robustcheck.data import load_dataset
from robustcheck.errors import DataError, SecurityRefusal
from robustcheck.exit_codes import ExitCode

needs_symlinks = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges")


def _raises(error, match: str, path, root, **kwargs):
    with pytest.raises(error, match=match) as err:
        dataset = load_dataset(root, **kwargs)
        list(dataset.batches(64))
    assert str(path) in str(err.value)
    assert "\n" not in err.value.one_line()
    return err.value


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "WEBP"])
def test_formats_outside_png_and_jpeg_are_refused_whatever_the_extension(tmp_path, make, fmt):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    bad = make.write_image(root / "a" / "fake.png", make.pixels(1, (8, 10, 3)), fmt)
    _raises(DataError, "not a readable PNG or JPEG", bad, root)


def test_garbage_with_an_image_extension_is_refused(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    (root / "a" / "junk.jpg").write_bytes(b"\xff\xd8\xff" + b"junk" * 10)
    _raises(DataError, "junk.jpg", root / "a" / "junk.jpg", root)


def test_a_bomb_header_is_refused_before_decoding(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    bomb = make.png_with_size(root / "a" / "bomb.png", 100_000, 100_000)
    err = _raises(SecurityRefusal, "decompression bomb", bomb, root)
    assert err.exit_code == ExitCode.SECURITY_REFUSAL
    assert Image.MAX_IMAGE_PIXELS != 1  # the global is restored, whatever it was


def test_the_pixel_cap_is_ours_not_pillows(tmp_path, make, small_caps):
    small_caps("MAX_IMAGE_PIXELS", 50)
    root = make.class_folder(tmp_path / "imgs", {"a": 1}, shape=(8, 10, 3))
    _raises(SecurityRefusal, "80 pixels|decompression bomb", root / "a" / "000.png", root)


def test_image_files_are_size_capped(tmp_path, make, small_caps):
    small_caps("MAX_IMAGE_FILE_BYTES", 100)
    root = make.class_folder(tmp_path / "imgs", {"a": 1}, shape=(16, 16, 3))
    _raises(DataError, "images are limited to 100", root / "a" / "000.png", root)


@pytest.mark.parametrize(("suffix", "fmt"), [(".png", "PNG"), (".jpg", "JPEG")])
def test_truncated_images_fail_when_decoded_naming_the_file(tmp_path, make, suffix, fmt):
    root = make.class_folder(tmp_path / "imgs", {"a": 1}, shape=(64, 64, 3))
    bad = make.write_image(root / "a" / f"cut{suffix}", make.pixels(3, (64, 64, 3)), fmt)
    bad.write_bytes(bad.read_bytes()[: len(bad.read_bytes()) // 2])
    dataset = load_dataset(root)  # the header is intact: found when its batch is decoded
    with pytest.raises(DataError, match="unreadable or truncated") as err:
        list(dataset.batches(8))
    assert str(bad) in str(err.value)


def test_sixteen_bit_images_are_refused(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    deep = root / "a" / "deep.png"
    Image.fromarray(np.full((8, 10), 40000, np.uint16)).save(deep)
    _raises(DataError, "image mode I;16", deep, root)


def test_empty_class_folders_and_datasets_are_refused(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    (root / "empty").mkdir()
    _raises(DataError, "empty class folder", root / "empty", root)
    empty = tmp_path / "nothing"
    empty.mkdir()
    _raises(DataError, "no class sub-folders", empty, empty)


def test_nested_folders_and_other_files_in_a_class_are_refused(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    (root / "a" / "deeper").mkdir()
    _raises(DataError, "nested folders", root / "a" / "deeper", root)
    (root / "a" / "deeper").rmdir()
    (root / "a" / "notes.txt").write_text("hi")
    _raises(DataError, "not a .png, .jpg or .jpeg", root / "a" / "notes.txt", root)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_refused(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    os.mkfifo(root / "a" / "pipe.png")
    _raises(DataError, "not a regular file", root / "a" / "pipe.png", root)


@needs_symlinks
def test_a_symlink_leading_outside_is_a_security_refusal(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    secret = make.write_image(tmp_path / "secret.png", make.pixels(1, (8, 10, 3)))
    (root / "a" / "link.png").symlink_to(secret)
    err = _raises(SecurityRefusal, "leads outside", root / "a" / "link.png", root)
    assert err.exit_code == ExitCode.SECURITY_REFUSAL


@needs_symlinks
def test_a_symlinked_class_folder_leading_outside_is_refused(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    outside = make.class_folder(tmp_path / "elsewhere", {"b": 1})
    (root / "b").symlink_to(outside / "b")
    _raises(SecurityRefusal, "leads outside", root / "b", root)


@needs_symlinks
def test_a_symlink_inside_the_root_is_refused_as_data_error(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 2})
    (root / "a" / "alias.png").symlink_to(root / "a" / "000.png")
    _raises(DataError, "symlinks inside an image folder are not followed", root / "a", root)


@needs_symlinks
def test_a_broken_symlink_is_refused(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    (root / "a" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    _raises(SecurityRefusal, "leads outside", root / "a" / "gone.png", root)


@needs_symlinks
def test_symlinked_classes_txt_is_refused(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    (tmp_path / "classes.txt").write_text("a\n")
    (root / "classes.txt").symlink_to(tmp_path / "classes.txt")
    _raises(SecurityRefusal, "leads outside", root / "classes.txt", root)


@pytest.mark.parametrize("name", ["../secret.png", "/etc/passwd", "a/../../secret.png"])
def test_a_labels_list_cannot_escape_the_root(tmp_path, make, name):
    root = tmp_path / "flat"
    make.write_image(root / "a" / "x.png", make.pixels(1, (4, 4)))
    make.write_image(tmp_path / "secret.png", make.pixels(2, (4, 4)))
    (root / "labels.csv").write_text(f"a/x.png,0\n{name},1\n")
    _raises(SecurityRefusal, "points outside", root / "labels.csv", root)


@needs_symlinks
def test_a_labels_list_cannot_go_through_a_symlinked_folder(tmp_path, make):
    root = tmp_path / "flat"
    make.write_image(tmp_path / "out" / "x.png", make.pixels(1, (4, 4)))
    root.mkdir()
    (root / "sub").symlink_to(tmp_path / "out")
    (root / "labels.csv").write_text("sub/x.png,0\n")
    _raises(SecurityRefusal, "leads outside", root / "sub", root)


def test_an_image_swapped_after_loading_is_caught(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    dataset = load_dataset(root)
    make.write_image(root / "a" / "000.png", make.pixels(1, (8, 10)))  # now grayscale
    with pytest.raises(DataError, match="changed after it was first read"):
        list(dataset.batches(4))
