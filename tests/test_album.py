"""The album folder: which files are photos, and where each photo's story comes from."""

from pipeline.album import find_photos, load_album_text, sidecar_names


def _album(tmp_path):
    root = tmp_path / "trip"
    (root / "day 2").mkdir(parents=True)
    for name in ["a.jpg", "b.jpg", "c.png", "day 2/d.jpeg"]:
        (root / name).write_bytes(b"not decoded here")
    (root / "album.yaml").write_text(
        "title: Trip\nphotos:\n  a.jpg:\n    story: From album.yaml.\n"
        "  b.jpg:\n    story: Also from album.yaml.\n")
    (root / "b.md").write_text("From the *sidecar*.\n", encoding="utf-8")
    (root / "c.png.md").write_text("\ufeffFrom c.png.md, with a BOM.", encoding="utf-8")
    (root / "day 2" / "d.md").write_bytes("Škoda ".encode() + b"\xff")   # not UTF-8
    (root / "README.md").write_text("not a story")
    (root / "notes.txt").write_text("tram tickets")
    return root


def test_sidecars_are_stories_not_skipped_files(tmp_path):
    files = find_photos(_album(tmp_path))
    assert files.photos == ["a.jpg", "b.jpg", "c.png", "day 2/d.jpeg"]
    assert files.skipped == [{"source": "README.md", "reason": "not a photo (.md)"},
                             {"source": "notes.txt", "reason": "not a photo (.txt)"}]


def test_story_from_sidecar_wins_over_album_yaml(tmp_path):
    text = load_album_text(_album(tmp_path))
    assert text.story_for("a.jpg") == "From album.yaml."
    assert text.story_for("b.jpg") == "From the *sidecar*."
    assert text.story_for("c.png") == "From c.png.md, with a BOM."
    assert text.story_for("day 2/d.jpeg").startswith("Škoda")   # bad bytes replaced, not fatal
    assert text.story_for("missing.jpg") is None


def test_sidecar_names():
    assert sidecar_names("day 1/IMG_1.JPG") == ("day 1/IMG_1.JPG.md", "day 1/IMG_1.md")
