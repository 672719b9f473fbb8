"""dreamtrip's library: the stages (ingest/, dream/, post/) over a flat core."""

__version__ = "0.3.0"  # the release; pyproject.toml reads it from here
