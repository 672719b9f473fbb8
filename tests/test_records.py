"""The record of the files dreamtrip wrote (pipeline/output/records.py) and what it decides about an
output folder (pipeline/output/folder.py): what is dreamtrip's, what is intact, what an earlier
release's folder counts as, and which folders are left out of an album."""

import json
import os

import pytest
from PIL import Image

from pipeline.output.files import TEMP_PREFIX, sha256_of
from pipeline.ingest.album import find_photos
from pipeline.output.layout import MANIFEST
from pipeline.output.folder import (OutputFolderError, adopt_earlier_release, check_folders, claim_output_folder,
                             foreign_files)
from pipeline.output.records import RECORD, FileRecord, record_of


def _lines(folder):
    return [json.loads(line) for line in (folder / RECORD).read_text().splitlines() if line.strip()]


def test_every_write_is_recorded_with_its_size_and_hash(tmp_path):
    record = record_of(tmp_path)
    record.write_bytes("index.html", b"<p>post</p>")
    record.save_image(Image.new("RGB", (16, 8), "red"), "dreams/a.jpg", quality=90)
    written = record.files()
    assert set(written) == {"index.html", "dreams/a.jpg"}
    for name, entry in written.items():
        assert (entry.size, entry.sha256) == ((tmp_path / name).stat().st_size, sha256_of(tmp_path / name))
    assert record.intact("index.html") and record.intact("dreams/a.jpg")
    assert not list(tmp_path.rglob(f"{TEMP_PREFIX}*"))


def test_a_damaged_file_is_not_intact(tmp_path):
    record = record_of(tmp_path)
    for name in ("truncated", "emptied", "junk", "same-size-junk", "gone"):
        record.write_bytes(f"dreams/{name}.jpg", b"\xff\xd8" + bytes(range(200)) + b"\xff\xd9")
    data = (tmp_path / "dreams/truncated.jpg").read_bytes()
    (tmp_path / "dreams/truncated.jpg").write_bytes(data[:50])
    (tmp_path / "dreams/emptied.jpg").write_bytes(b"")
    (tmp_path / "dreams/junk.jpg").write_bytes(b"junk")
    (tmp_path / "dreams/same-size-junk.jpg").write_bytes(b"j" * len(data))
    (tmp_path / "dreams/gone.jpg").unlink()
    (tmp_path / "dreams/never-written.jpg").write_bytes(data)
    for name in ("truncated", "emptied", "junk", "gone", "never-written", "same-size-junk"):
        assert not record.intact(f"dreams/{name}.jpg"), name   # the same size is not enough: the hash tells


def _counting_hashes(monkeypatch) -> list:
    """Every file the record reads to hash it, in order."""
    import pipeline.output.records as records

    read = []
    monkeypatch.setattr(records, "sha256_of", lambda path, **kw: read.append(path) or sha256_of(path, **kw))
    return read


def test_one_command_hashes_a_file_once_while_it_stays_as_written(tmp_path, monkeypatch):
    """retry looks at what is unfinished, then its flow checks the same files; a rerun checks,
    then export does: each file is read once, and read again once it changed."""
    import pipeline.output.records as records

    record = record_of(tmp_path)
    record.write_bytes("dreams/a.jpg", b"a dream " * 100)
    path = tmp_path / "dreams/a.jpg"
    an_hour_ago = records.time.time_ns() - 3600 * 10**9
    os.utime(path, ns=(an_hour_ago, an_hour_ago))   # written by an earlier run
    later = records.time.time_ns
    monkeypatch.setattr(records.time, "time_ns", lambda: later() + 60 * 10**9)   # checked a minute on
    read = _counting_hashes(monkeypatch)
    assert record.intact("dreams/a.jpg") and record.intact("dreams/a.jpg")
    assert record_of(tmp_path).intact("dreams/a.jpg") and len(read) == 1
    # Rewritten in place at the same size: its times change, so it is read again, and damaged.
    path.write_bytes(b"junk " * 160)
    assert not record.intact("dreams/a.jpg") and len(read) == 2
    # Put back (a second earlier), then replaced by a file of the same size and times: another inode.
    earlier = an_hour_ago - 10**9
    path.write_bytes(b"a dream " * 100)
    os.utime(path, ns=(earlier, earlier))
    assert record.intact("dreams/a.jpg") and len(read) == 3
    (tmp_path / "other").write_bytes(b"junk " * 160)
    os.utime(tmp_path / "other", ns=(earlier, earlier))
    os.replace(tmp_path / "other", path)
    assert not record.intact("dreams/a.jpg") and len(read) == 4


def test_a_file_changed_just_after_its_check_is_read_again(tmp_path):
    """A file written a moment ago may be rewritten within one tick of the filesystem's clock
    (same size, same times): its hash is not kept, so the change is still seen."""
    record = record_of(tmp_path)
    record.write_bytes("dreams/a.jpg", b"a dream " * 100)
    assert record.intact("dreams/a.jpg")
    (tmp_path / "dreams/a.jpg").write_bytes(b"junk " * 160)
    assert not record.intact("dreams/a.jpg")


def test_a_file_is_recorded_before_it_has_its_name(tmp_path, monkeypatch):
    """Whatever stops a write, no file stands under a final name unrecorded: the record comes
    first, and a record of a file that never got its name only makes it look damaged."""
    import pipeline.output.files as files

    record = record_of(tmp_path)
    monkeypatch.setattr(files.os, "replace", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        record.write_bytes("dreams/a.jpg", b"a dream")
    assert not (tmp_path / "dreams/a.jpg").exists() and "dreams/a.jpg" in record.files()
    assert not record.intact("dreams/a.jpg")
    assert not list(tmp_path.rglob(f"{TEMP_PREFIX}*"))


def test_lines_of_other_writers_are_read_and_a_line_cut_short_is_skipped(tmp_path):
    mine, theirs = record_of(tmp_path), FileRecord(tmp_path)  # theirs: another process's
    mine.write_bytes("photos/a.jpg", b"a")
    with open(tmp_path / RECORD, "ab") as f:
        f.write(b'\n{"path": "photos/cut.jpg", "si')  # a power cut in the middle of a line
    theirs.write_bytes("photos/b.jpg", b"b")
    assert set(mine.files()) == {"photos/a.jpg", "photos/b.jpg"}


def test_a_record_names_nothing_outside_its_folder(tmp_path):
    folder = tmp_path / "out"
    (folder / RECORD).parent.mkdir()
    lines = [{"path": p, "size": 1, "sha256": "x"} for p in ("../outside.jpg", "/etc/passwd", "a/../../b", "ok.jpg")]
    (folder / RECORD).write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert set(FileRecord(folder).files()) == {"ok.jpg"}


def test_compaction_keeps_what_is_there_and_whether_the_last_run_finished(tmp_path):
    record = record_of(tmp_path)
    assert record.last_run_finished()  # nothing ran here before
    record.begin_run()
    record.write_bytes("photos/a.jpg", b"a")
    record.write_bytes("photos/b.jpg", b"b")
    (tmp_path / "photos/b.jpg").unlink()
    assert not FileRecord(tmp_path).last_run_finished()  # a run started and never finished
    record.compact()
    assert set(record.files()) == {"photos/a.jpg"} and not record.last_run_finished()
    record.end_run()
    assert record.last_run_finished() and len(_lines(tmp_path)) == 2


# ---------------------------------------------------------------- the output folder


def test_files_in_the_way_are_named_and_hidden_ones_are_not_in_the_way(tmp_path):
    out = tmp_path / "out"
    for name in ("index.html", "photos/family.jpg", "dreams/notes.txt", "dreams/.DS_Store", "notes/a.txt"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"mine")
    record_of(out).write_bytes("post.md", b"ours")
    assert foreign_files(out, record_of(out)) == ["dreams/notes.txt", "index.html", "photos/family.jpg"]
    assert foreign_files(out, record_of(out), top_only=True) == ["index.html"]
    with pytest.raises(OutputFolderError, match=r"dreams/notes.txt \(and 2 more\) was not written by dreamtrip"):
        claim_output_folder(out)


def test_the_album_is_never_the_output_folder_nor_an_output_folder(tmp_path):
    album = tmp_path / "trip"
    album.mkdir()
    with pytest.raises(OutputFolderError, match=r"is the album folder.*-o "):
        check_folders(album, album / ".")
    record_of(album / "out").write_bytes(MANIFEST, b'{"dreamtrip_version": "0.2.0"}')
    check_folders(album, album / "out")  # inside the album is fine: it is left out of it
    with pytest.raises(OutputFolderError, match="is a dreamtrip output folder"):
        check_folders(album / "out", tmp_path / "elsewhere")


def _earlier_release_folder(out, named, stale, theirs):
    """An output folder as a release before the record left it: the pictures its manifest names
    (JPEGs of the sizes it says), stale ones named alike, page files, and files of the traveller's."""
    manifest = {"dreamtrip_version": "0.1.0", "album": {"title": "Old trip"}, "photos": [
        {"source": "a.jpg", "sha256": "0123456789ab" + "0" * 52, "web": [{"path": named[0], "width": 6, "height": 4}],
         "dreams": [{"layer": "conv1_2", "image": {"path": named[1], "width": 6, "height": 4}, "web": []}]}],
        "weights": {"path": "/home/someone/.cache/vgg16.pth"}}
    for name in [*named, *stale, *theirs]:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (6, 4), "red").save(out / name)
    pages = {"index.html": b'<html><meta name="generator" content="dreamtrip 0.1.0">',
             "post.md": f"---\ntitle: Old trip\ncover: {named[0]}\n---\n".encode(),
             "style.css": b"/* dreamtrip: one calm stylesheet */", "dreamtrip.js": b"// my own script",
             ".tmp-k2j4h5g6.jpg": b"half"}
    for name, data in pages.items():
        (out / name).write_bytes(data)
    (out / MANIFEST).write_text(json.dumps(manifest))


def test_an_earlier_releases_output_folder_adopts_what_its_content_proves(tmp_path):
    out = tmp_path / "out"
    named = ["photos/a-0123abcd-48.jpg", "dreams/0123456789ab-conv1_2-89abcdef.jpg"]
    stale = ["dreams/0123456789ab-conv5_2-89abcdef.jpg", "photos/removed-photo-fedcba98-96.jpg"]
    theirs = ["photos/family.jpg"]
    _earlier_release_folder(out, named, stale, theirs)
    Image.new("RGB", (7, 4), "red").save(out / named[1])   # not the size the manifest says: not proven
    record = record_of(out)
    adopt_earlier_release(out, record)
    # A dream of older settings is adopted: its name carries the hash of the manifest's photo, and
    # it decodes. Named alike is no proof: a copy named for no photo of the manifest, the old temp
    # file and a script without dreamtrip's mark are not taken for dreamtrip's (a `run` names
    # them; `clean` never deletes them).
    assert set(record.files()) == {named[0], stale[0], MANIFEST, "index.html", "post.md", "style.css"}
    assert foreign_files(out, record) == sorted([named[1], "dreamtrip.js", stale[1], *theirs])
    for name in [named[1], "dreamtrip.js", stale[1], *theirs]:
        (out / name).unlink()
    claim_output_folder(out)  # and without them, nothing is refused


def test_output_folders_inside_the_album_are_left_out_whole(tmp_path):
    album = tmp_path / "trip"
    album.mkdir()
    Image.new("RGB", (8, 8), "red").save(album / "a.jpg")
    record_of(album / "out" / "trip").save_image(Image.new("RGB", (8, 8)), "photos/a-0123abcd-8.jpg")
    (album / "old-site" / "photos").mkdir(parents=True)
    (album / "old-site" / MANIFEST).write_text('{\n  "dreamtrip_version": "0.1.0"}')
    Image.new("RGB", (8, 8), "blue").save(album / "old-site" / "photos" / "b-0123abcd-8.jpg")
    (album / "maps").mkdir()
    (album / "maps" / MANIFEST).write_text('{"name": "not dreamtrip\'s"}')  # some other program's
    Image.new("RGB", (8, 8), "green").save(album / "maps" / "c.jpg")
    files = find_photos(album)
    assert files.photos == ["a.jpg", "maps/c.jpg"]
    assert files.left_out == ["old-site", "out/trip"]
    assert not any(s.source.startswith(("out/", "old-site/")) for s in files.skipped)


def test_our_temp_names_are_our_own(tmp_path):
    assert TEMP_PREFIX.startswith(".dreamtrip-")
    record_of(tmp_path).write_bytes("a.txt", b"x")
    assert sorted(os.listdir(tmp_path)) == [RECORD, "a.txt"]


def test_the_first_claim_of_a_name_holds_and_outlives_a_compaction(tmp_path):
    """What export keeps of which album owns which post in a site: one owner per name, the
    first to claim it (two exports at once: the second is told), kept when the record is
    rewritten as its current state."""
    record = record_of(tmp_path)
    assert record.claim("hugo:prague", "album-a") and record.claim("hugo:prague", "album-a")
    assert not record.claim("hugo:prague", "album-b")
    assert record.claim("hugo:prague-2", "album-b")
    record.compact()
    assert FileRecord(tmp_path).claims() == {"hugo:prague": "album-a", "hugo:prague-2": "album-b"}
    assert sum("claim" in line for line in _lines(tmp_path)) == 2


def test_a_record_a_full_disk_leaves_empty_is_removed(tmp_path, monkeypatch):
    """A first line that cannot be written: no empty record is left to make the folder look
    like dreamtrip's, and the error names the record, not the current folder."""
    import errno

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError) as refused:
        FileRecord(tmp_path).claim("hugo:prague", "album-a")
    assert refused.value.filename == str(tmp_path / RECORD) and not (tmp_path / RECORD).exists()
