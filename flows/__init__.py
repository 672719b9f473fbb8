"""Prefect orchestration and the CLI over the plain stages in pipeline/."""

import os

# Before Prefect is imported anywhere: no telemetry. It would try the network (there may be
# none) and, on the temporary server's fresh SQLite database, races the first run's writes.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
