"""Prefect orchestration and the CLI over the plain stages in pipeline/."""

import os

# Before Prefect is imported anywhere: no telemetry. It would try the network (there may be
# none) and, on the temporary server's fresh SQLite database, races the first run's writes.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")  # the SDK's telemetry, and its notice on a first run
# The temporary server Prefect starts for a command may take more than its default 20 s to come
# up on a busy 2-core machine; a slow start is better than a failed run.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
