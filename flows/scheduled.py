"""The flow a scheduled run starts (flows/serving.py serves it): `dreamtrip run` as the command does it."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from flows import launch
from flows.preflight import Execution


@flow(name="dream-album")
def scheduled_run(album: str, config: str | None = None, overrides: dict | None = None) -> None:
    """One scheduled run: `dreamtrip run ALBUM` with these settings, as the command does it."""
    logger = get_run_logger()
    launch.run(Path(album), Path(config) if config else None, overrides or {}, Execution(),
               warn=logger.warning, say=logger.info)
