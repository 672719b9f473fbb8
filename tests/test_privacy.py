"""What the output says about where photos were taken (pipeline/privacy.py)."""

import pytest
from PIL import Image

from pipeline.config import load_settings
from pipeline.manifest import ExifInfo, Gps, PhotoEntry, Place, WebImage
from pipeline.privacy import distance_km, hidden, within_privacy

PRAGUE = Place(name="Prague", country="Czechia", country_code="CZ", lat=50.08804, lon=14.42076)


def _photo(lat=50.0865, lon=14.4114, place=PRAGUE) -> PhotoEntry:
    return PhotoEntry(source="a.jpg", status="ok", exif=ExifInfo(gps=Gps(lat=lat, lon=lon), camera="X"),
                      place=place, web=[WebImage(path="photos/a.jpg", width=64, height=48)])


def _privacy(**values):
    return load_settings(overrides={f"privacy.{key}": value for key, value in values.items()}).privacy


def test_town_keeps_the_towns_name_and_position_to_two_decimals_and_drops_the_spot():
    entry = within_privacy(_photo(), _privacy())
    assert entry.exif.gps is None and entry.exif.camera == "X"
    assert (entry.place.name, entry.place.lat, entry.place.lon) == ("Prague", 50.09, 14.42)


def test_exact_keeps_everything():
    assert within_privacy(_photo(), _privacy(location="exact")) == _photo()


def test_none_keeps_nothing_of_a_position():
    entry = within_privacy(_photo().model_copy(update={"position": "track"}), _privacy(location="none"))
    assert entry.place is None and entry.exif.gps is None
    assert entry.position is None   # nor whether a camera's GPS or a track placed it


def test_zone_edges_and_distances():
    assert distance_km(50.0, 14.0, 50.0, 14.0) == 0
    assert distance_km(0, 0, 1, 0) == pytest.approx(111.19, abs=0.01)
    zone = _privacy(hide_near=[{"lat": 0.0, "lon": 0.0, "radius_m": 1000}]).hide_near
    assert hidden((0.0089, 0.0), zone)          # ~990 m north
    assert not hidden((0.0091, 0.0), zone)      # ~1012 m north
    assert hidden((0.0, 179.9999), _privacy(hide_near=[{"lat": 0, "lon": -179.9999,
                                                        "radius_m": 100}]).hide_near)  # across 180°


def test_a_photo_without_position_keeps_its_place_unless_places_are_off():
    photo = _photo().model_copy(update={"exif": None})
    assert within_privacy(photo, _privacy()).place.name == "Prague"
    assert within_privacy(photo, _privacy(location="none")).place is None


# ---------------------------------------------------------------- an older manifest, and blog


def test_blog_on_an_older_manifest_drops_the_spot_it_held(tmp_path):
    """A manifest of an earlier release has no `privacy` settings and the camera's position:
    it is still read (defaults apply), and rewriting it keeps only the town."""
    import json

    from pipeline.manifest import AlbumInfo, Manifest, WeightsInfo
    from pipeline.output.manifest_file import read_manifest, write_manifest
    from flows.upkeep import rebuild_post
    from helpers import write_jpeg

    album, out = tmp_path / "trip", tmp_path / "out"
    write_jpeg(album / "a.jpg")
    old = Manifest(created="2026-11-25T10:00:00+00:00", album=AlbumInfo(name="trip", title="Trip"),
                   weights=WeightsInfo(source="hed", identity="hed", description="d", note="n", reason="r"),
                   device="cpu", settings=load_settings(), photos=[_photo(place=PRAGUE.model_copy(
                       update={"lat": None, "lon": None}))])
    data = json.loads(old.model_dump_json())
    del data["settings"]["privacy"]
    (out / "photos").mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps(data))
    Image.new("RGB", (64, 48)).save(out / "photos" / "a.jpg")  # its web copy, as the manifest says
    assert read_manifest(out).settings.privacy.location == "town"
    rebuild_post(album, out)
    for name in ("manifest.json", "index.html", "post.md"):
        text = (out / name).read_text(encoding="utf-8")
        assert "50.086" not in text and "14.411" not in text, name
    assert "Prague, Czechia" in (out / "index.html").read_text(encoding="utf-8")
    assert read_manifest(out).photos[0].exif.gps is None


# ---------------------------------------------------------------- the whole run, from the outside

BRIDGE = (50.08651, 14.41139)     # Charles Bridge, Prague
HOME = (48.20849, 16.37208)       # a flat in Vienna, inside the zone below
# Any number that says more of these positions than 2 decimals (2 decimals of the photo's own
# position would still be ~1 km from the town's, which is all the output may hold).
FINER = rb"50\.08[0-9]|14\.41[0-9]|48\.20[0-9]|16\.37[0-9]"


def test_with_defaults_no_file_of_the_output_holds_a_position_and_a_zone_hides_its_photo(
        prefect_harness, tmp_path, weights_cache):
    import re

    from PIL import Image

    from flows.cli import main
    from pipeline.output.manifest_file import read_manifest
    from helpers import make_exif, noisy_image, write_jpeg

    album, out = tmp_path / "trip", tmp_path / "site"
    write_jpeg(album / "bridge.jpg", noisy_image(seed=1), exif=make_exif(
        make="Canon", model="EOS", date_original="2016:06:13 09:00:00", gps=BRIDGE))
    write_jpeg(album / "home.jpg", noisy_image(seed=2), exif=make_exif(
        make="Canon", model="EOS", date_original="2016:06:14 09:00:00", gps=HOME))
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "layers: [conv1_2]\ndream: {octaves: 1, steps: 1, jitter: 0}\n"
        "images: {dream_size: 64, web_sizes: [48]}\ntasks: {retries: 0}\n"
        f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n"
        f"privacy: {{hide_near: [{{lat: {HOME[0] + 0.001}, lon: {HOME[1]}, radius_m: 300}}]}}\n")

    assert main(["run", str(album), "-c", str(config), "-o", str(out), "--device", "cpu"]) == 0

    files = [path for path in out.rglob("*") if path.is_file()]
    assert {"manifest.json", "index.html", "post.md", "contact-sheet.html"} <= {p.name for p in files}
    for path in files:
        found = re.search(FINER, path.read_bytes())
        assert found is None, f"{path.relative_to(out)} holds {found.group()!r}"
        if path.suffix in (".jpg", ".png", ".avif", ".webp"):
            with Image.open(path) as image:   # no GPS in any image's own EXIF either
                assert not image.getexif().get_ifd(0x8825), path.relative_to(out)
    manifest = read_manifest(out)
    assert manifest.settings.privacy.hide_near == []       # the zone is home: never written
    photos = {photo.source: photo for photo in manifest.photos}
    assert photos["bridge.jpg"].place.name == "Prague" and photos["bridge.jpg"].exif.gps is None
    assert photos["home.jpg"].place is None and photos["home.jpg"].exif.gps is None
    assert photos["home.jpg"].place_hidden and not photos["bridge.jpg"].place_hidden
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Prague, Czechia" in page and "Vienna" not in page and "Wien" not in page
    # No map: Prague is the only place left (a map needs two), the zone's place is not there.
    assert '<a class="mark"' not in page

    # `retry` starts from the manifest, which has no zones: the photo stays hidden all the same.
    (out / photos["home.jpg"].dreams[0].image.path).unlink()
    assert main(["retry", str(album), "-o", str(out), "--device", "cpu"]) == 0
    home = next(photo for photo in read_manifest(out).photos if photo.source == "home.jpg")
    assert home.place is None and home.place_hidden and home.dreams[0].ok
    assert "Vienna" not in (out / "index.html").read_text(encoding="utf-8")


def test_a_photo_hidden_once_stays_hidden_when_its_entry_is_published_again():
    entry = within_privacy(_photo(), _privacy(), hide=True)
    assert entry.place is None and entry.exif.gps is None and entry.place_hidden
    assert within_privacy(entry.model_copy(update={"place": PRAGUE}), _privacy()).place is None
