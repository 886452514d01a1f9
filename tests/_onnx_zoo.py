"""Real architectures built in code, briefly trained on digits, exported to ONNX for tests."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn


class Residual(nn.Module):
    """Residual CNN with BatchNorm (ResNet basic block)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        return self.head(torch.relu(h + self.block(h)))


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, 4, 1),
            nn.ReLU(),
            nn.Conv2d(4, channels, 1),
            nn.Hardsigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x)


class MobileLike(nn.Module):
    """Depthwise-separable convolutions with HardSwish and squeeze-excite (MobileNetV3 style)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.Hardswish(),
            nn.Conv2d(16, 16, 3, padding=1, groups=16),
            nn.BatchNorm2d(16),
            nn.Hardswish(),
            SqueezeExcite(16),
            nn.Conv2d(16, 24, 1),
            nn.BatchNorm2d(24),
            nn.Hardswish(),
            nn.AvgPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(24 * 16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TinyViT(nn.Module):
    """A small vision transformer: 2x2 patches, LayerNorm, GELU MLP, multi-head attention."""

    def __init__(self, dim: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.patch = nn.Conv2d(1, dim, 2, stride=2)
        self.pos = nn.Parameter(torch.randn(1, 16, dim) * 0.02)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 64), nn.GELU(), nn.Linear(64, dim))
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        h = self.norm1(tokens)
        tokens = tokens + self.attn(h, h, h, need_weights=False)[0]
        tokens = tokens + self.mlp(self.norm2(tokens))
        return self.head(tokens.mean(dim=1))


class SoftmaxMLP(nn.Module):
    """An MLP whose graph ends in Softmax: the model returns probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


class NHWC(nn.Module):
    """Takes channels-last images, as TensorFlow-style exports do."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * 16, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.permute(0, 3, 1, 2))


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "residual_bn": Residual,
    "mobile_se_hardswish": MobileLike,
    "tiny_vit": TinyViT,
    "softmax_mlp": SoftmaxMLP,
    "nhwc": NHWC,
}


def train_briefly(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 40) -> nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        out = model(x)
        loss = (
            nn.functional.nll_loss(torch.log(out + 1e-12), y)
            if isinstance(model, SoftmaxMLP)
            else nn.functional.cross_entropy(out, y)
        )
        loss.backward()
        opt.step()
    return model.eval()


EXPORTERS = ("torchscript-13", "torchscript-17", "dynamo")
# The TorchScript exporter has no attention below opset 14: the ViT is exported where it works.
UNEXPORTABLE = {("tiny_vit", "torchscript-13")}


@dataclass
class Exported:
    name: str
    module: torch.nn.Module
    data: Path
    torchscript: Path
    onnx: dict[str, Path] = field(default_factory=dict)


def export_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    exporter: str,
    *,
    dynamic_batch: bool = True,
) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            shapes = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=True,
                verbose=False,
                external_data=False,
                dynamic_shapes=shapes,
                input_names=["input"],
            )
        else:
            axes = {"input": {0: "batch"}, "scores": {0: "batch"}} if dynamic_batch else None
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=False,
                opset_version=int(exporter.split("-")[1]),
                do_constant_folding=False,
                input_names=["input"],
                output_names=["scores"],
                dynamic_axes=axes,
            )
    return path


class Zoo:
    def __init__(self, root: Path, digits) -> None:
        self.root = root
        self.digits = digits
        self._built: dict[str, Exported] = {}

    def get(self, name: str, exporter: str) -> Exported:
        entry = self._built.get(name) or self._build(name)
        if exporter not in entry.onnx:
            example = torch.from_numpy(np.load(entry.data)["x"][:4])
            entry.onnx[exporter] = export_onnx(
                entry.module, example, self.root / f"{name}-{exporter}.onnx", exporter
            )
        return entry

    def _build(self, name: str) -> Exported:
        torch.manual_seed(0)
        x_train, x_test = self.digits.x_train, self.digits.x_test
        if name == "nhwc":
            x_train, x_test = (
                x_train.transpose(0, 2, 3, 1).copy(),
                x_test.transpose(0, 2, 3, 1).copy(),
            )
        module = train_briefly(
            ARCHITECTURES[name](), torch.from_numpy(x_train), torch.from_numpy(self.digits.y_train)
        )
        data = self.root / f"{name}.npz"
        np.savez(data, x=x_test[:300], y=self.digits.y_test[:300])
        ts = self.root / f"{name}.pt"
        torch.jit.save(
            torch.jit.trace(module, torch.from_numpy(x_test[:4]), check_trace=False), str(ts)
        )
        self._built[name] = Exported(name=name, module=module, data=data, torchscript=ts)
        return self._built[name]
