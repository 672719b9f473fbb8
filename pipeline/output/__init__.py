"""The one owner of the output folder and the shared store: what is on disk, written, recorded,
locked, reused or cleaned. Stages ask it; nothing else opens files in an output folder.

Importing the package loads nothing: import its modules (files, records, layout, store, folder,
lock)."""
