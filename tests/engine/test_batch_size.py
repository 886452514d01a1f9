"""``--batch-size auto``: halving on out-of-memory (probed with a real allocator failure on the
CPU device), the fixed CPU default, and the chosen size recorded in the report."""

from __future__ import annotations

import json

import pytest
import torch

from robustcheck.backends.loader import load_backend
from robustcheck.cli import main
from robustcheck.data import load_dataset
from robustcheck.engine.batch_size import auto_batch_size, largest_batch
from robustcheck.engine.config import DEFAULT_BATCH_SIZE
from robustcheck.plugins import data_registry

_FITS = 64


class FitsUpTo(torch.nn.Module):
    """A linear classifier whose forward asks the allocator for 2⁴⁵ floats per row beyond 64:
    batches above 64 fail as a full GPU does."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        waste = torch.zeros(max(0, int(x.shape[0]) - 64) * (1 << 45))
        return self.linear(x.reshape(x.shape[0], -1)) + waste.sum()


@pytest.fixture(scope="module")
def fits_up_to_64(tmp_path_factory):
    path = tmp_path_factory.mktemp("auto") / "fits64.pt"
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(FitsUpTo().eval()), str(path))
    return load_backend(path, device="cpu")


@pytest.mark.parametrize(("start", "chosen"), [(64, 64), (719, 44), (4096, 64), (65, 32)])
def test_halves_from_the_start_until_the_probe_fits(fits_up_to_64, digits, start, chosen):
    size = largest_batch(fits_up_to_64, digits.x_test[:16], start, n_eps=5)
    assert size == chosen and size <= _FITS


def test_out_of_memory_at_one_sample_is_raised(fits_up_to_64, digits, tmp_path):
    class Hopeless(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(x.shape[0], -1)[:, :10] + torch.zeros(1 << 45).sum()

    path = tmp_path / "hopeless.pt"
    torch.jit.save(torch.jit.script(Hopeless()), str(path))
    with pytest.raises(RuntimeError, match="allocate"):
        largest_batch(load_backend(path, device="cpu"), digits.x_test[:4], 8, n_eps=1)


def test_a_failure_other_than_memory_is_not_retried(digits, tmp_path):
    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(x.shape[0], 3, -1)[:, 0]  # 64 features do not split in 3

    path = tmp_path / "broken.pt"
    torch.jit.save(torch.jit.script(Broken()), str(path))
    with pytest.raises(Exception, match="shape") as caught:
        largest_batch(load_backend(path, device="cpu"), digits.x_test[:4], 8, n_eps=1)
    assert "allocate" not in str(caught.value)


def test_on_the_cpu_auto_is_the_fixed_default(fits_up_to_64, digits_npz):
    registry, _ = data_registry()
    dataset = load_dataset(digits_npz, registry=registry)
    assert auto_batch_size(fits_up_to_64, dataset, n_eps=2) == DEFAULT_BATCH_SIZE


def test_the_report_records_the_chosen_size_and_the_counts_match_it(
    capsys, cnn_model, digits_npz, tmp_path
):
    def scan(batch: str) -> dict:
        report = tmp_path / f"{batch}.json"
        main(
            ["scan", str(cnn_model.torchscript), "--data", str(digits_npz), "--eps", "0.1",
             "--batch-size", batch, "--no-isolation", "--json", str(report)]
        )  # fmt: skip
        capsys.readouterr()
        return json.loads(report.read_text())

    auto, fixed = scan("auto"), scan(str(DEFAULT_BATCH_SIZE))
    assert auto["settings"]["batch_size"] == DEFAULT_BATCH_SIZE
    assert auto["settings"]["batch_size_source"] == "auto"
    assert fixed["settings"]["batch_size_source"] == "given"
    assert auto["results"] == fixed["results"]


def test_noise_counts_depend_on_the_batch_size_which_is_why_it_is_recorded(
    capsys, cnn_model, digits_npz, tmp_path
):
    rates = {}
    for batch in ("100", "256"):
        report = tmp_path / f"{batch}.json"
        main(
            ["scan", str(cnn_model.torchscript), "--data", str(digits_npz), "--eps", "0.3",
             "--batch-size", batch, "--no-isolation", "--json", str(report)]
        )  # fmt: skip
        capsys.readouterr()
        results = json.loads(report.read_text())["results"]
        rates[batch] = {r["attack"]: r["adversarial_errors"] for r in results}
    assert rates["100"]["fgsm"] == rates["256"]["fgsm"]  # one gradient per sample, no randomness
    assert rates["100"]["noise"] != rates["256"]["noise"]  # signs are drawn per batch


@pytest.mark.parametrize(
    ("message", "too_large"),
    [
        ("CUDA out of memory. Tried to allocate 20.00 GiB", True),
        ("Expected canUse32BitIndexMath(input) && canUse32BitIndexMath(output) to be true", True),
        ("cuDNN error: CUDNN_STATUS_NOT_SUPPORTED. This error may appear if you passed in a non-contiguous input.", True),
        ("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`", True),
        ("mat1 and mat2 shapes cannot be multiplied (32x63 and 64x10)", False),
    ],
)  # fmt: skip
def test_what_the_probe_reads_as_too_large(message, too_large):
    from robustcheck.engine.batch_size import _too_large

    assert _too_large(RuntimeError(message)) is too_large
