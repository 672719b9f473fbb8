"""The album folder: which files are photos, and where each photo's story comes from."""

import pytest

from pipeline.ingest.album import AlbumText, PhotoText, find_photos, load_album_text, sidecar_names
from pipeline.config import ConfigError
from pipeline.manifest import Skipped, UnmatchedText


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
    assert files.skipped == [Skipped(source="README.md", reason="not a photo (.md)"),
                             Skipped(source="notes.txt", reason="not a photo (.txt)")]
    assert all(s.duplicate_of is None for s in files.skipped)


def test_story_from_sidecar_wins_over_album_yaml(tmp_path):
    text = load_album_text(_album(tmp_path))
    assert text.story_for("a.jpg") == "From album.yaml."
    assert text.story_for("b.jpg") == "From the *sidecar*."
    assert text.story_for("c.png") == "From c.png.md, with a BOM."
    assert text.story_for("day 2/d.jpeg").startswith("Škoda")   # bad bytes replaced, not fatal
    assert text.story_for("missing.jpg") is None


def test_sidecar_names():
    assert sidecar_names("day 1/IMG_1.JPG") == ("day 1/IMG_1.JPG.md", "day 1/IMG_1.md")


# ---------------------------------------------------------------- per-photo layers

def test_layers_for_a_photo_from_album_yaml_else_the_default(tmp_path):
    root = _album(tmp_path)
    (root / "album.yaml").write_text("photos:\n  a.jpg: {layers: [conv1_1, conv5_2]}\n"
                                     "  b.jpg: {story: No layers here.}\n")
    text = load_album_text(root)
    default = ("conv3_1",)
    assert text.layers_for("a.jpg", default) == ("conv1_1", "conv5_2")
    assert text.layers_for("b.jpg", default) == default
    assert text.layers_for("c.png", default) == default


# ---------------------------------------------------------------- entries that match no photo

PHOTOS = ["IMG_0001.jpg", "day1/harbour.jpg", "day2/mobile_X.jpg", "day2/sunset.png"]


def _unmatched(*keys: str) -> list[UnmatchedText]:
    return AlbumText(title="Trip", photos={key: PhotoText(story="A story.") for key in keys}).unmatched(PHOTOS)


def test_a_file_name_in_a_sub_folder_is_suggested():
    """Issue 11 item 2: a story keyed to `mobile_X.jpg` for a photo in day2/ vanished silently."""
    assert _unmatched("mobile_X.jpg") == [UnmatchedText(key="mobile_X.jpg", closest="day2/mobile_X.jpg")]
    assert _unmatched("mobile_X.jpg")[0].message == (
        "album.yaml: photos: mobile_X.jpg matches no photo in the album; did you mean day2/mobile_X.jpg?")
    # the wrong folder, too
    assert _unmatched("day1/sunset.png") == [UnmatchedText(key="day1/sunset.png", closest="day2/sunset.png")]


@pytest.mark.parametrize("key, closest", [("IMG_001.jpg", "IMG_0001.jpg"),
                                          ("day1/harbor.jpg", "day1/harbour.jpg"),
                                          ("IMG_0001.JPG", "IMG_0001.jpg")])
def test_a_near_spelling_is_suggested(key, closest):
    assert _unmatched(key) == [UnmatchedText(key=key, closest=closest)]


def test_an_unrelated_key_gets_no_suggestion():
    [entry] = _unmatched("breakfast-at-tiffanys.gif")
    assert entry == UnmatchedText(key="breakfast-at-tiffanys.gif", closest=None)
    assert entry.message == "album.yaml: photos: breakfast-at-tiffanys.gif matches no photo in the album"


def test_keys_that_match_a_photo_are_not_listed():
    assert _unmatched(*PHOTOS) == []
    assert [u.key for u in _unmatched("day1/harbour.jpg", "mobile_X.jpg", "IMG_0001.jpg")] == ["mobile_X.jpg"]
    assert AlbumText(title="Trip").unmatched(PHOTOS) == []


def test_unmatched_keys_from_a_real_album_yaml(tmp_path):
    root = _album(tmp_path)
    (root / "album.yaml").write_text("photos:\n  a.jpg: {story: Found.}\n  d.jpeg: {story: In day 2.}\n")
    text = load_album_text(root)
    assert text.unmatched(find_photos(root).photos) == [UnmatchedText(key="d.jpeg", closest="day 2/d.jpeg")]


# ---------------------------------------------------------------- site_url (sharing links)

def test_site_url_is_read_into_the_manifest_record(tmp_path):
    root = _album(tmp_path)
    (root / "album.yaml").write_text("title: Trip\nsite_url: https://example.org/trips/prague/\n")
    assert load_album_text(root).info("trip").site_url == "https://example.org/trips/prague/"
    (root / "album.yaml").write_text("title: Trip\n")
    assert load_album_text(root).info("trip").site_url is None


@pytest.mark.parametrize("value", ["example.org/trip", "ftp://example.org/trip", "javascript:alert(1)",
                                   "https://", "[1, 2]"])
def test_a_site_url_that_is_no_web_address_stops_the_run_in_one_line(tmp_path, value):
    """Before any work, as every album.yaml mistake: one line naming the key, exit 2."""
    import subprocess
    import sys

    root = _album(tmp_path)
    (root / "album.yaml").write_text(f"title: Trip\nsite_url: {value}\n")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "flows.cli", "run", str(root), "-o", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "site_url" in run.stderr and "http(s) address" in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not out.exists()
# ---------------------------------------------------------------- the post's date, cover, hidden photos


def _album_yaml(tmp_path, text: str):
    (tmp_path / "album.yaml").write_text(text, encoding="utf-8")
    return load_album_text(tmp_path)


@pytest.mark.parametrize("written, stored", [("2016-06-15", "2016-06-15"),
                                             ("'2016-06-15'", "2016-06-15"),
                                             ("2016-06-15 18:30", "2016-06-15T18:30:00"),
                                             ("2016-06-15T18:30:00+02:00", "2016-06-15T18:30:00+02:00")])
def test_album_yaml_dates_the_post(tmp_path, written, stored):
    text = _album_yaml(tmp_path, f"date: {written}\n")
    assert text.date == stored and text.info("trip").date == stored


@pytest.mark.parametrize("written", ["June 2016", "'2016-13-01'", "[2016]", "yes"])
def test_a_date_that_is_no_date_is_named(tmp_path, written):
    with pytest.raises(ConfigError) as caught:
        _album_yaml(tmp_path, f"date: {written}\n")
    assert caught.value.key == "date" and "2016-06-15" in caught.value.expected


@pytest.mark.parametrize("written", ["2016-13-01", "2024-13-45", "2016-02-30 18:30"])
def test_an_impossible_date_is_named_as_the_date_key(tmp_path, written):
    with pytest.raises(ConfigError, match=f"album.yaml: date: got '{written}'; expected the post's date"):
        _album_yaml(tmp_path, f"date: {written}\n")


def test_album_yaml_chooses_the_cover_and_hides_photos(tmp_path):
    text = _album_yaml(tmp_path, "cover: day 2/d.jpeg\nphotos:\n  a.jpg:\n    hide: true\n  b.jpg:\n    hide: false\n")
    assert text.info("trip").cover == "day 2/d.jpeg"
    assert text.hidden("a.jpg") and not text.hidden("b.jpg") and not text.hidden("c.png")
    text.check_cover(["a.jpg", "b.jpg", "day 2/d.jpeg"])  # a photo of the album: no error


def test_a_cover_that_is_no_photo_of_the_album_is_named_with_the_closest(tmp_path):
    text = _album_yaml(tmp_path, "cover: day2/d.jpeg\n")
    with pytest.raises(ConfigError) as caught:
        text.check_cover(["a.jpg", "day 2/d.jpeg"])
    assert caught.value.key == "cover" and "did you mean day 2/d.jpeg?" in str(caught.value)


def test_a_hidden_photo_cannot_be_the_cover(tmp_path):
    text = _album_yaml(tmp_path, "cover: a.jpg\nphotos:\n  a.jpg:\n    hide: true\n")
    with pytest.raises(ConfigError, match="hide: true"):
        text.check_cover(["a.jpg"])


def test_hide_is_true_or_false(tmp_path):
    with pytest.raises(ConfigError) as caught:
        _album_yaml(tmp_path, "photos:\n  a.jpg:\n    hide: please\n")
    assert caught.value.key == "photos.a.jpg.hide"
