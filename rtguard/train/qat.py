"""Quantization-aware training with torch.ao's FX fake quantization, frozen for ONNX export.

The model body gets fake quantizers: uint8 activations and per-channel int8 weights,
the U8S8 pairing ONNX Runtime's integer kernels run. Batch norm is folded into the
convolutions first, as the deployed graph will have it. Fine-tuning then adapts the
weights to the INT8 grid. torch.export cannot trace a FakeQuantize module (it branches
on tensor flags), so after training each one is frozen into a quantize/dequantize pair
with constant parameters, which the exporter writes as QuantizeLinear/DequantizeLinear
(QDQ) and ONNX Runtime fuses into integer kernels (QGemm, QLinearConv).
"""

from __future__ import annotations

import warnings

import torch
import torch.ao.quantization.fx._decomposed
from torch import nn
from torch.ao.quantization import (
    FakeQuantize,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    QConfig,
    QConfigMapping,
    disable_observer,
    enable_observer,
)
from torch.ao.quantization.quantize_fx import prepare_qat_fx
from torch.fx.experimental.optimization import fuse

from rtguard.errors import RtguardError

QUANTIZABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)
FOLDED = (nn.BatchNorm1d, nn.BatchNorm2d)


class QatError(RtguardError):
    """The model holds a layer quantization-aware training cannot quantize."""


class ObservedInTraining(nn.Module):
    """Observers learn activation ranges in training mode only, so validation rows never move them."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model(features)

    def train(self, mode: bool = True) -> ObservedInTraining:
        super().train(mode)
        self.apply(enable_observer if mode else disable_observer)
        return self


def prepare_qat(model: nn.Module, example: torch.Tensor, reduce_range: bool) -> ObservedInTraining:
    """Fake-quantize `model.body` (preprocessing stays float); `reduce_range`: 7-bit activations for CPUs without VNNI."""
    unsupported = [f"body.{name} ({type(layer).__name__})" for name, layer in model.body.named_modules()
                   if next(layer.parameters(recurse=False), None) is not None and not isinstance(layer, QUANTIZABLE + FOLDED)]
    if unsupported:
        raise QatError(f"quantization-aware training cannot quantize {', '.join(unsupported)}: "
                       "it supports Linear, Conv1d and Conv2d (batch norm folded)")
    activation = FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=127 if reduce_range else 255,
                                        dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    weight = FakeQuantize.with_args(observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127,
                                    dtype=torch.qint8, qscheme=torch.per_channel_symmetric, ch_axis=0)
    mapping = QConfigMapping().set_global(QConfig(activation=activation, weight=weight)).set_object_type(nn.Dropout, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao announces its own deprecation in favour of torchao
        folded = fuse(model.body.eval())
        model.body = prepare_qat_fx(folded.train(), mapping, example_inputs=(model.preprocess(example),))
    missed = [name for name, layer in model.body.named_modules() if isinstance(layer, QUANTIZABLE) and not hasattr(layer, "weight_fake_quant")]
    if missed:
        raise QatError(f"quantization-aware training left {', '.join(missed)} in float: no integer kernel would run them")
    return ObservedInTraining(model)


def freeze(observed: ObservedInTraining) -> nn.Module:
    """The trained model with every fake quantizer replaced by a constant quantize/dequantize pair."""
    model = observed.model.eval()
    _replace_fake_quantizers(model)
    return model


class FrozenQuantDequant(nn.Module):
    """Quantize then dequantize with fixed parameters: exported as ONNX QuantizeLinear/DequantizeLinear."""

    def __init__(self, fake: FakeQuantize):
        super().__init__()
        self.quant_min, self.quant_max = int(fake.quant_min), int(fake.quant_max)
        self.dtype = torch.uint8 if self.quant_min == 0 else torch.int8
        self.axis = fake.ch_axis if fake.is_per_channel else None
        if self.axis is None:  # python numbers: the exporter needs per-tensor parameters as constants
            self.scale, self.zero_point = float(fake.scale), int(fake.zero_point)
        else:
            self.register_buffer("scale", fake.scale.detach().clone())
            self.register_buffer("zero_point", fake.zero_point.detach().to(torch.int32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.axis is not None:
            return torch.fake_quantize_per_channel_affine(x, self.scale, self.zero_point, self.axis, self.quant_min, self.quant_max)
        ops = torch.ops.quantized_decomposed
        q = ops.quantize_per_tensor.default(x, self.scale, self.zero_point, self.quant_min, self.quant_max, self.dtype)
        return ops.dequantize_per_tensor.default(q, self.scale, self.zero_point, self.quant_min, self.quant_max, self.dtype)


def _replace_fake_quantizers(module: nn.Module, frozen: dict | None = None) -> None:
    """In place; a quantizer shared by several tensors (e.g. around an identity) stays shared."""
    frozen = {} if frozen is None else frozen
    for name, child in list(module._modules.items()):  # not named_children(): it skips a shared module's second name
        if isinstance(child, FakeQuantize):
            setattr(module, name, frozen.setdefault(id(child), FrozenQuantDequant(child)))
        elif child is not None:
            _replace_fake_quantizers(child, frozen)
