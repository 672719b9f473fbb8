"""What a dream is, decided once where it runs: the device (cuda, then mps, then cpu), the
precision, the dream size, the octaves. GPUs that are not here are mocked: torch reports them."""

from __future__ import annotations

import re

import pytest
import torch

import pipeline.dream.spec as spec_module
from pipeline.config import load_settings
from pipeline.dream.spec import DeviceError, DreamSpec, cpu_has_fast_bf16, device_kind, numbered_device, precision_on
from pipeline.dream.tiling import TilePlan, bytes_per_pixel
from pipeline.manifest import PhotoEntry

PHOTO = PhotoEntry(source="a.jpg", sha256="ab" * 32, status="ok", width=4000, height=3000)


@pytest.fixture
def machine(monkeypatch):
    """Say which GPUs torch reports here: machine("cuda"), machine("mps"), machine() for none."""
    def report(*kinds, bf16=True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: "cuda" in kinds)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: "mps" in kinds)
        monkeypatch.setattr(spec_module, "cpu_has_fast_bf16", lambda: False)  # an Intel Xeon without AMX
    return report


def test_auto_takes_cuda_then_mps_then_cpu(machine):
    machine("cuda", "mps")
    assert device_kind("auto") == "cuda"
    machine("mps")
    assert device_kind("auto") == "mps" and device_kind("mps") == "mps" and device_kind("cpu") == "cpu"
    machine()
    assert device_kind("auto") == "cpu"


@pytest.mark.parametrize("wanted, says", [("cuda", "no CUDA GPU"), ("mps", "no Apple GPU (mps)")])
def test_a_gpu_asked_for_but_not_here_is_a_device_error(machine, wanted, says):
    machine()
    with pytest.raises(DeviceError, match=re.escape(f"device: {wanted} was asked for, but torch sees {says}")):
        device_kind(wanted)


def test_precision_is_what_each_device_computes_fast_and_correctly(machine):
    machine("cuda", bf16=False)  # a GPU without bf16 (e.g. a T4)
    assert precision_on("auto", "cuda") == "fp16"
    machine("cuda")
    assert precision_on("auto", "cuda") == "bf16"
    assert precision_on("auto", "mps") == "fp32"  # fp16 unscaled can lose small gradients; bf16 not measured
    assert precision_on("auto", "cpu") == "fp32"  # this CPU is slower at bf16
    assert precision_on("bf16", "mps") == "bf16" and precision_on("fp32", "cuda") == "fp32"


def test_bf16_counts_as_fast_only_where_it_measured_faster():
    flags = "flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_fp16\n"
    assert cpu_has_fast_bf16("vendor_id\t: AuthenticAMD\n" + flags)  # Zen 4: ~2.2x fp32
    assert not cpu_has_fast_bf16("vendor_id\t: GenuineIntel\n" + flags)  # no AMX: ~0.65x fp32
    assert cpu_has_fast_bf16("vendor_id\t: GenuineIntel\n" + flags.replace("\n", " amx_bf16 amx_tile\n"))
    assert not cpu_has_fast_bf16("vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2\n")  # bf16 emulated


@pytest.mark.parametrize("kinds, device, precision, size, step, octaves", [
    (("cuda", "mps"), "cuda", "bf16", 2048, 64, 5),
    (("mps",), "mps", "fp32", 1024, None, 3),       # an Apple GPU: no cuDNN autotuning to pad for
    ((), "cpu", "fp32", 1024, None, 3)])
def test_one_decision_records_device_precision_size_and_octaves(machine, kinds, device, precision, size,
                                                                step, octaves):
    machine(*kinds)
    spec = DreamSpec.decide(load_settings(), "hed-4502df9d")
    assert (spec.device, spec.precision, spec.dream_size, spec.size_step, spec.octaves) == \
        (device, precision, size, step, octaves)
    assert spec.params.precision == "auto" and spec.engine_params.precision == precision  # the key keeps `auto`
    assert DreamSpec.decide(load_settings(None, {"dream.octaves": 4}), "hed").octaves == 4
    assert DreamSpec.decide(load_settings(None, {"images.dream_size": "full"}), "hed").octaves is None


def test_a_dream_keeps_its_key_on_cpu_and_cuda(machine):
    """The store key of the default settings, pinned: a traveller's finished dreams are found
    again, not dreamed twice. Only dreaming other pixels may change it: raising
    ENGINE_REVISION (revision 2, no edge bands, did, from f4032420 and 396374d8) or a preset's
    new schedule (issue 23's momentum did, from 4f406bbf and 43cc355d; then revision 3, momentum
    carried across octaves, with steps [4, 7], from 88668b46 and 0b180f9a). Earlier dreams then stay
    in use as older-recipe dreams (tests/test_upgrade.py)."""
    machine()
    assert DreamSpec.decide(load_settings(), "hed-4502df9d").files(PHOTO, "conv3_1").image == \
        "dreams/abababababab-conv3_1-8f70cd17.jpg"
    machine("cuda")
    assert DreamSpec.decide(load_settings(), "hed-4502df9d").files(PHOTO, "conv3_1").image == \
        "dreams/abababababab-conv3_1-9c880e01.jpg"


def test_a_preview_is_a_dream_of_its_own_at_the_preview_size_never_above_the_dream_size(machine):
    """`run --preview`: a 4000 px photo's preview is dreamed at 512 px under a key of its own; a
    photo no larger than that gets its finished dream at once; a dream size no larger than the
    preview's makes no previews."""
    machine()
    spec = DreamSpec.decide(load_settings(), "hed-4502df9d")   # 1024 px on the CPU
    small = spec.previewing(512)
    assert small.size(PHOTO) == (512, 384) and small.full_size(PHOTO) == spec.size(PHOTO) == (1024, 768)
    assert small.is_preview(PHOTO) and not spec.is_preview(PHOTO)
    assert small.files(PHOTO, "conv3_1").image != spec.files(PHOTO, "conv3_1").image
    entry = small.entry(PHOTO, "conv3_1")
    assert entry.preview and (entry.image.width, entry.image.height) == (512, 384)
    assert not spec.entry(PHOTO, "conv3_1").preview

    thumbnail = PHOTO.model_copy(update={"width": 480, "height": 360})
    assert not small.is_preview(thumbnail) and not small.entry(thumbnail, "conv3_1").preview
    assert small.files(thumbnail, "conv3_1") == spec.files(thumbnail, "conv3_1")   # the same dream

    assert spec.previewing(1024) is None and spec.previewing(2048) is None
    whole = DreamSpec.decide(load_settings(None, {"images.dream_size": "full"}), "hed").previewing(512)
    assert whole.size(PHOTO) == (512, 384) and whole.full_size(PHOTO) == (4000, 3000)


def test_an_apple_gpu_tiles_by_the_memory_torch_reports_for_it(monkeypatch):
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 12 * 2**30)
    monkeypatch.setattr(torch.mps, "current_allocated_memory", lambda: 2 * 2**30)
    plan = TilePlan.for_device(torch.device("mps"), 3000, torch.float32, ["conv5_2"])
    assert plan.device_type == "mps"
    assert plan.max_pixels == int(10 * 2**30 * 0.8 / bytes_per_pixel("conv5_2", torch.float32))


def test_cuda_graphs_run_only_on_cuda():
    engine = load_settings(None, {"engine.cuda_graphs": "yes"}).engine
    assert engine.graphs_on("cuda:1") and not engine.graphs_on("mps") and not engine.graphs_on("cpu")
    assert not load_settings().engine.graphs_on("cuda")  # auto: off until measured faster on a GPU


@pytest.mark.parametrize("gpus, number, device", [(0, 3, "cuda"), (1, 3, "cuda"), (3, 4, "cuda:1"),
                                                  (3, None, "cuda"), (2, 0, "cuda:0")])
def test_each_local_worker_takes_its_own_gpu(monkeypatch, gpus, number, device):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    assert numbered_device("cuda", number) == device
    assert numbered_device("cpu", number) == "cpu"
