"""The one owner of the output folder and the shared store: what is on disk, written, recorded,
locked, reused or cleaned. Stages ask it; nothing else writes or deletes files there
(tests/test_imports.py checks the source).

Importing the package loads nothing: import its modules (layout: the names; files: whole-file
writes, never through a link; records: what was written, by content; store: output names and the
shared store; folder: what is dreamtrip's, adoption, the checks before work, what clean deletes;
manifest_file: manifest.json on disk; lock: one run at a time)."""
