"""Running the dreams on Dask: several GPUs in one machine, or several machines.

`dask_task_runner` builds prefect-dask's DaskTaskRunner for `dreamtrip run --dask [ADDRESS]`:
with an address it joins a running cluster; without, it starts a LocalCluster with one worker
process per GPU. Each worker process loads the network once (`load_dreamer` is cached per
process) and dreams `tasks.dreams_at_once` at a time (the semaphore in dream_album.py is per
process too). Dreams ask the scheduler for one "GPU" resource when the workers offer it, so a
worker is handed no more dreams than it can run and its other threads stay free for CPU work.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

GPU = "GPU"  # the Dask worker resource a dream needs: `dask worker ADDRESS --resources GPU=1`


def dask_task_runner(address: str | None = None, workers: int | None = None):
    """A DaskTaskRunner on the cluster at `address`, or on a new LocalCluster.

    The local cluster has `workers` worker processes (default: one per GPU, or one without a
    GPU), each offering one GPU resource when there are GPUs.
    """
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    from pipeline.dream.spec import gpu_count  # torch loads there, in the dream stage

    gpus = gpu_count()
    cluster = {
        "n_workers": workers or max(gpus, 1),
        "processes": True,            # one model, one CUDA context per worker process
        "dashboard_address": None,    # no fixed port: two runs (or test sessions) must not clash
    }
    if gpus:
        cluster["resources"] = {GPU: 1}
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster)


def dream_resources() -> dict | None:
    """What a dream asks the scheduler for: one GPU when the flow runs on a Dask cluster whose
    workers offer GPUs (gpu_resources); otherwise nothing (threads in this process, or CPU
    workers: asking for a resource that no worker has would wait forever)."""
    return gpu_resources(_current_task_runner().client) if running_on_dask() else None


def dreams_in_flight(dreams_at_once: int) -> int:
    """How many dream tasks a run keeps submitted at once: enough that every device (one here,
    one per worker of a Dask cluster) always has its next photo decoded and waiting (a device
    runs `dreams_at_once`, and as many more are prepared around it: turns.Slots), and no
    more: each submitted task holds a thread, its task run and its parameters until it ends."""
    runner = _current_task_runner()
    devices = len(runner.client.scheduler_info().get("workers", {})) if running_on_dask() else 1
    return 2 * (dreams_at_once + 2) * max(devices, 1)


def gpu_resources(client) -> dict | None:
    workers = client.scheduler_info().get("workers", {}).values()
    return {GPU: 1} if any(w.get("resources", {}).get(GPU) for w in workers) else None


@contextlib.contextmanager
def requiring(resources: dict | None) -> Iterator[None]:
    """Tasks submitted in this block ask Dask's scheduler for `resources` (None: no-op)."""
    if not resources:
        yield
        return
    import dask

    with dask.annotate(resources=resources):
        yield


def running_on_dask() -> bool:
    """Whether this flow run's tasks go to a Dask cluster (checked without importing Dask)."""
    runner = _current_task_runner()
    return runner is not None and type(runner).__module__.split(".")[0] == "prefect_dask"


def _current_task_runner():
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context.task_runner if context else None


def device_on_cluster(address: str, device: str) -> str:
    """`device` checked where the dreams will run, before the run starts: on a worker of the
    cluster at `address` (one offering a GPU if any does). DeviceError if it has no such device."""
    from distributed import Client

    from pipeline.dream.spec import device_kind

    with Client(address, timeout=30) as client:
        return client.submit(device_kind, device, resources=gpu_resources(client), pure=False).result()


def worker_device(kind: str) -> str:
    """The device this process dreams on, of the kind decided (pipeline/dream/spec.py) where the
    dreams run. On a LocalCluster with several GPUs, worker number i takes GPU i."""
    if kind != "cuda":
        return kind
    from pipeline.dream.spec import numbered_device

    return numbered_device(kind, _local_worker_number())


def _local_worker_number() -> int | None:
    """LocalCluster names its workers 0, 1, 2...; other workers (and threads) have no number."""
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):
        return None
    return name if isinstance(name, int) else None
