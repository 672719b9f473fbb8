"""Dask worker preload for the tests: this worker reports a CUDA GPU without bf16 (as a T4 does),
though the machine has none. What the worker decides then shows where the decision was taken:
a CPU machine never decides fp16. Dreaming on the reported GPU fails, as it must: there is none."""


def dask_setup(worker) -> None:
    import torch

    torch.cuda.is_available = lambda: True
    torch.cuda.is_bf16_supported = lambda *args, **kwargs: False
    torch.cuda.device_count = lambda: 1
