from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from robustcheck.data import load_dataset
from robustcheck.data.images import ImageSource
from robustcheck.errors import DataError, UsageError


def test_class_folders_sorted_png_and_jpeg(tmp_path, make):
    root = tmp_path / "imgs"
    make.class_folder(root, {"zebra": 2, "ant": 3})
    make.write_image(root / "zebra" / "extra.JPG", make.pixels(9, (8, 10, 3)), "JPEG")
    make.write_image(root / "zebra" / "more.jpeg", make.pixels(8, (8, 10, 3)), "JPEG")
    dataset = load_dataset(root)
    assert isinstance(dataset.source, ImageSource)
    assert dataset.format == "images" and dataset.class_names == ("ant", "zebra")
    assert dataset.y.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert dataset.sample_shape == (3, 8, 10)
    (batch,) = dataset.batches(16)
    assert batch.x.shape == (7, 3, 8, 10) and batch.x.dtype == np.float32
    first = np.asarray(Image.open(root / "ant" / "000.png"), dtype=np.float32)
    np.testing.assert_array_equal(batch.x[0], first.transpose(2, 0, 1))  # raw 0..255 units
    assert batch.x.max() > 1.0


def test_classes_txt_sets_the_index_order(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"cat": 1, "dog": 2})
    (root / "classes.txt").write_text("dog\ncat\nbird\n")
    dataset = load_dataset(root)
    assert dataset.class_names == ("dog", "cat", "bird")
    assert dataset.y.tolist() == [0, 0, 1]
    assert any("1 of the 3 classes" in note for note in dataset.notes)
    assert load_dataset(root, class_order="sorted").class_names == ("cat", "dog")
    assert load_dataset(root, class_order="file").sha256 == dataset.sha256


def test_class_order_file_needs_classes_txt(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"cat": 1})
    with pytest.raises(DataError, match="--class-order file needs it"):
        load_dataset(root, class_order="file")


def test_classes_txt_must_list_every_folder(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"cat": 1, "dog": 1})
    (root / "classes.txt").write_text("cat\n")
    with pytest.raises(DataError, match="does not list class 'dog'") as err:
        load_dataset(root)
    assert str(root / "classes.txt") in str(err.value)
    (root / "classes.txt").write_text("cat\ndog\ncat\n")
    with pytest.raises(DataError, match="'cat' twice"):
        load_dataset(root)


def test_layouts(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 2})
    nchw = next(load_dataset(root).batches(2)).x
    nhwc_data = load_dataset(root, layout="NHWC")
    assert nhwc_data.sample_shape == (8, 10, 3)
    np.testing.assert_array_equal(next(nhwc_data.batches(2)).x, nchw.transpose(0, 2, 3, 1))


def test_image_size_resizes_the_shorter_side_and_center_crops(tmp_path, make):
    root = tmp_path / "imgs"
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 6:34] = 255  # white but for black edges that the crop must remove
    make.write_image(root / "a" / "wide.png", wide)
    make.write_image(root / "a" / "tall.png", np.full((30, 10, 3), 7, np.uint8))
    dataset = load_dataset(root, image_size=(10, 10))
    assert dataset.sample_shape == (3, 10, 10)
    (batch,) = dataset.batches(4)
    assert batch.x.shape == (2, 3, 10, 10)
    np.testing.assert_array_equal(batch.x[0], 7.0)  # "tall" sorts first
    # 20x40 -> 10x20 (white 3..17), centre-cropped to columns 5..15: all white
    np.testing.assert_array_equal(batch.x[1], 255.0)


def test_non_square_image_size_is_height_then_width(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1}, shape=(32, 32, 3))
    dataset = load_dataset(root, image_size=(8, 16), layout="NHWC")
    assert next(dataset.batches(1)).x.shape == (1, 8, 16, 3)


def test_different_sizes_need_image_size(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    make.write_image(root / "a" / "z.png", make.pixels(1, (9, 9, 3)))
    with pytest.raises(DataError, match="9×9 pixels") as err:
        load_dataset(root)
    assert str(root / "a" / "z.png") in str(err.value)
    assert "--image-size" in err.value.one_line()


def test_grayscale_folders_give_one_channel(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 2, "b": 1}, shape=(6, 6))
    dataset = load_dataset(root)
    assert dataset.sample_shape == (1, 6, 6) and dataset.notes == ()
    expected = np.asarray(Image.open(root / "a" / "000.png"), dtype=np.float32)
    np.testing.assert_array_equal(next(dataset.batches(1)).x[0, 0], expected)


def test_mixed_modes_follow_the_majority_and_say_so(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 3}, shape=(6, 6, 3))
    gray = make.pixels(5, (6, 6))
    make.write_image(root / "a" / "gray.png", gray)
    rgba = np.dstack([make.pixels(6, (6, 6, 3)), np.full((6, 6), 128, np.uint8)])
    make.write_image(root / "a" / "rgba.png", rgba)
    dataset = load_dataset(root)
    assert dataset.sample_shape == (3, 6, 6)
    assert any("1 of 5 images" in note and "grayscale to RGB" in note for note in dataset.notes)
    assert any("transparency" in note for note in dataset.notes)
    x = next(dataset.batches(8)).x
    for channel in range(3):
        np.testing.assert_array_equal(x[3, channel], gray.astype(np.float32))  # gray.png 4th
    np.testing.assert_array_equal(x[4], rgba[..., :3].transpose(2, 0, 1).astype(np.float32))


def test_a_tie_goes_to_the_first_image(tmp_path, make):
    root = tmp_path / "imgs"
    make.write_image(root / "a" / "0.png", make.pixels(1, (4, 4)))
    make.write_image(root / "a" / "1.png", make.pixels(2, (4, 4, 3)))
    assert load_dataset(root).sample_shape == (1, 4, 4)


def test_extension_does_not_decide_the_format(tmp_path, make):
    root = tmp_path / "imgs"
    make.write_image(root / "a" / "really_png.jpg", make.pixels(1, (4, 4, 3)), "PNG")
    assert load_dataset(root).n_samples == 1


def test_hidden_entries_and_root_files_are_ignored(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    (root / "README.md").write_text("about")
    (root / ".git").mkdir()
    (root / "a" / ".DS_Store").write_bytes(b"\0")
    assert load_dataset(root).n_samples == 1


def test_sha256_is_a_sha256sum_manifest(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"b": 1, "a": 1})
    lines = "".join(
        f"{hashlib.sha256((root / name).read_bytes()).hexdigest()}  {name}\n"
        for name in ("a/000.png", "b/000.png")
    )
    assert load_dataset(root).sha256 == hashlib.sha256(lines.encode()).hexdigest()


def test_flat_folder_with_labels_csv_of_names(tmp_path, make):
    root = tmp_path / "flat"
    for name in ("x.png", "y.png", "z.png"):
        make.write_image(root / name, make.pixels(len(name), (5, 5, 3)))
    (root / "labels.csv").write_text("filename,label\nz.png,dog\nx.png,cat\ny.png,dog\n")
    dataset = load_dataset(root)
    assert dataset.class_names == ("cat", "dog")
    assert dataset.y.tolist() == [1, 0, 1]
    assert dataset.y_key == str(root / "labels.csv")
    first = np.asarray(Image.open(root / "z.png"), dtype=np.float32).transpose(2, 0, 1)
    np.testing.assert_array_equal(next(dataset.batches(3)).x[0], first)


def test_flat_folder_with_a_given_tsv_of_indices_and_classes_txt(tmp_path, make):
    root = tmp_path / "flat"
    make.write_image(root / "sub" / "x.png", make.pixels(1, (5, 5)))
    make.write_image(root / "y.png", make.pixels(2, (5, 5)))
    (root / "classes.txt").write_text("zero\none\ntwo\n")
    labels = tmp_path / "list.tsv"
    labels.write_text("sub/x.png\t2\ny.png\t0\n")
    dataset = load_dataset(root, labels_file=labels)
    assert dataset.y.tolist() == [2, 0] and dataset.class_names == ("zero", "one", "two")
    labels.write_text("sub/x.png\t3\ny.png\t0\n")
    with pytest.raises(DataError, match=r"line 1: class index 3, but classes\.txt lists 3"):
        load_dataset(root, labels_file=labels)


def test_flat_folder_listing_errors(tmp_path, make):
    root = tmp_path / "flat"
    make.write_image(root / "x.png", make.pixels(1, (5, 5)))
    labels = root / "labels.csv"
    for content, match in [
        ("x.png,0\nmissing.png,1\n", "line 2: .*missing.png does not exist"),
        ("x.png,0\nx.png,1\n", "line 2: 'x.png' is listed twice"),
        ("x.png,0,extra\n", "3 cells"),
        ("filename,label\n", "no images listed"),
    ]:
        labels.write_text(content)
        with pytest.raises(DataError, match=match) as err:
            load_dataset(root)
        assert str(labels) in str(err.value) or str(root) in str(err.value)


def test_images_loose_in_a_class_folder_root_need_a_labels_file(tmp_path, make):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    make.write_image(root / "loose.png", make.pixels(1, (8, 10, 3)))
    with pytest.raises(DataError, match="directly in the image folder") as err:
        load_dataset(root)
    assert str(root / "loose.png") in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [({"x_key": "a"}, "--x-key"), ({"feature_columns": ["a"]}, "--feature-column")],
)
def test_options_of_other_formats_are_refused(tmp_path, make, kwargs, flag):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    with pytest.raises(UsageError, match=flag):
        load_dataset(root, **kwargs)


@pytest.mark.parametrize("size", [(0, 4), (4, 10**6)])
def test_image_size_must_be_sensible(tmp_path, make, size):
    root = make.class_folder(tmp_path / "imgs", {"a": 1})
    with pytest.raises(UsageError, match="--image-size"):
        load_dataset(root, image_size=size)
