"""Stage 1, ingest: the album folder -> photo records (content hash, EXIF, place) and web copies."""
