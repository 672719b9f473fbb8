"""What the output folder holds, which a traveller publishes as it is: nothing of the machine
(paths, host name, user name) and nothing a hostile photo or story can make dangerous (a
megabyte camera name, `javascript:` links, Liquid tags for Jekyll)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from markdown_it import MarkdownIt

from helpers import make_exif, quadrant_image
from pipeline.config import load_settings
from pipeline.manifest import Manifest, PhotoEntry, Skipped, WeightsInfo
from pipeline.output.manifest_file import write_manifest

REPO = Path(__file__).resolve().parent.parent
HOST, USER = "host-q7z3k", "user-q7z3k"
# The CLI as it runs on a machine called HOST, for USER: names no real machine has, so that a
# hit in the output can only come from the run.
ON_A_KNOWN_MACHINE = f"""
import getpass, socket, sys
socket.gethostname = lambda: {HOST!r}
getpass.getuser = lambda: {USER!r}
from flows.cli import main
sys.exit(main(sys.argv[1:]))
"""

# The four shapes that got `javascript:` past the old sanitiser into post.md, and Liquid.
HOSTILE_INTRO = """\
[a]:
  javascript:alert('next-line')

- a list item

  [b]: javascript:alert('in-a-list')

* [c]: javascript:alert('after-star')

1. a numbered item

   [d]: javascript:alert('numbered')

See [one][a], [two][b], [three][c], [four][d]. {% include secrets.html %} {{ site.token }}
"""


def commonmark(markdown: str) -> str:
    """post.md as a CommonMark renderer that trusts every link makes it."""
    md = MarkdownIt("commonmark")
    md.validateLink = lambda url: True
    return md.render(markdown)


def test_a_real_run_publishes_nothing_of_the_machine_and_nothing_hostile(
        prefect_harness, tmp_path, weights_cache):
    from prefect.settings import PREFECT_API_URL

    home = tmp_path / "home" / USER
    album = home / "trips" / "prague"
    album.mkdir(parents=True)
    quadrant_image(96, 64).save(album / "old-town.jpg", quality=90)
    # A PNG whose eXIf chunk says its camera is a megabyte long.
    quadrant_image(80, 64).save(album / "tower.png", exif=make_exif("Evil", "C" * 1_000_000))
    (album / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    (album / "album.yaml").write_text(
        "title: Prague\nintro: |\n" + "".join(f"  {line}\n" for line in HOSTILE_INTRO.splitlines())
        + "photos:\n  old-town.jpg:\n    story: \"Bridge {{ page.title }} [x](javascript:alert(1))\"\n")
    config = tmp_path / "tiny.yaml"
    config.write_text("layers: [conv1_1]\ndream: {octaves: 1, steps: 1, jitter: 0}\n"
                      "images: {dream_size: 48, web_sizes: [48]}\ntasks: {retries: 0}\n"
                      f"weights: {{source: hed, cache_dir: '{weights_cache}'}}\n"
                      f"output: {{store_dir: '{home / 'dream-store'}'}}\n")
    out = home / "sites" / "prague"
    env = dict(os.environ, PYTHONPATH=str(REPO), PREFECT_API_URL=PREFECT_API_URL.value(),
               HOME=str(home), USER=USER, LOGNAME=USER)
    run = subprocess.run([sys.executable, "-c", ON_A_KNOWN_MACHINE, "run", str(album), "-c", str(config),
                          "-o", str(out), "--device", "cpu"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr  # broken.jpg failed; the rest is published

    files = [path for path in out.rglob("*") if path.is_file()]
    assert {"index.html", "post.md", "manifest.json"} <= {path.name for path in files}
    assert not (out / ".dreamtrip.lock").exists()
    private = [HOST, USER, str(tmp_path), str(Path.home()), sys.prefix, os.path.realpath(sys.prefix)]
    for path in files:
        data = path.read_bytes()
        for text in private:
            assert text.encode() not in data, (path.relative_to(out), text)

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    photos = {photo["source"]: photo for photo in manifest["photos"]}
    assert photos["broken.jpg"]["status"] == "failed" and photos["broken.jpg"]["error"]
    assert manifest["weights"]["file"] == "hed_bsds500.weights.h5"  # named, not located
    assert (manifest["settings"]["output"], manifest["settings"]["weights"]["cache_dir"]) == \
        ({"dir": None, "store_dir": None}, None)
    assert len(photos["tower.png"]["exif"]["camera"]) == 120

    # The megabyte camera name, cut: the page stays a page.
    assert (out / "index.html").stat().st_size < 300_000
    assert (out / "post.md").stat().st_size < 300_000
    post = (out / "post.md").read_text(encoding="utf-8")
    assert "{%" not in post and "{{" not in post  # Jekyll runs Liquid over post.md first
    rendered = commonmark(post)
    assert not re.search(r"""(href|src)=["']?\s*javascript""", rendered, re.IGNORECASE), rendered
    for words in ("See one, two, three, four.", "{% include secrets.html %}", "Bridge {{ page.title }} x"):
        assert words in rendered.replace("&quot;", '"'), words  # shown as the traveller wrote it
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "javascript:alert" not in page.replace("javascript:alert('", "")  # no link: at most text
    assert not re.search(r"""href=["']?\s*javascript""", page, re.IGNORECASE)


def test_messages_name_photos_relative_to_the_album_and_no_other_path(tmp_path):
    album, out = tmp_path / "home" / "ana" / "my trips" / "prague", tmp_path / "site"
    manifest = Manifest(
        created="2026-11-25T10:00:00+00:00", album={"name": "prague", "title": "Prague"},
        weights=WeightsInfo(source="hed", identity="4502df9d", description="HED", note="edges",
                            reason=f"ImageNet not in {tmp_path}/cache/vgg16-397923af.pth"),
        device="cpu", photos=[
            PhotoEntry(source="day1/a.jpg", status="failed",
                       error=f"OSError: [Errno 5] Input/output error: '{album}/day1/a.jpg'"),
            PhotoEntry(source="b.jpg", status="ok", sha256="0" * 64, width=8, height=8, dreams=[
                {"layer": "conv1_1", "status": "failed",
                 "error": f"FileNotFoundError: {out}/dreams/x.jpg and /var/cache/dreamtrip/w.pt"}])],
        skipped=[Skipped(source="notes.txt", reason=f"cannot be read: {album}")],
        settings=load_settings(overrides={"output.dir": str(out), "output.store_dir": str(tmp_path / "store"),
                                          "weights.cache_dir": str(tmp_path / "cache")}),
        page=str(out / "index.html"))
    clean = manifest.without_machine_paths(album, out)
    assert clean.photos[0].error == "OSError: [Errno 5] Input/output error: 'day1/a.jpg'"
    assert clean.photos[1].dreams[0].error == "FileNotFoundError: dreams/x.jpg and w.pt"
    assert clean.skipped[0].reason == "cannot be read: ."
    assert clean.weights.reason == "ImageNet not in vgg16-397923af.pth"
    written = write_manifest(clean, out).read_text(encoding="utf-8")
    assert str(tmp_path) not in written and "/var/" not in written
    assert clean.page == str(out / "index.html")  # the terminal still says where the page is
