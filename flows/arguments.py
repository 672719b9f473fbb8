"""The command line's arguments: every command, its options and their help, parsed into what
the commands take (settings overrides, how a run executes). flows/cli.py runs the commands."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import get_args

from flows.preflight import Execution
from pipeline.config import Settings
from pipeline.layers import WEIGHTS

IMAGENET = WEIGHTS["imagenet"]

DESCRIPTION = """\
Turn a trip's photo album into a travel-blog post where every photo stands beside
its DeepDream variants (VGG16). Writes index.html, post.md and manifest.json."""

EPILOG = """\
examples:
  dreamtrip run ~/trips/prague                      dream with the default settings
  dreamtrip run data/sample-album -c config/demo.yaml
  dreamtrip run ~/trips/prague --layers conv4_2,conv5_2 --device cuda -o site/prague
  dreamtrip retry ~/trips/prague                    redo only what failed
  dreamtrip blog ~/trips/prague                     rewrite the post after editing album.yaml
  dreamtrip export ~/trips/prague --hugo ~/blog     the post into your Hugo site (or --jekyll)
  dreamtrip clean ~/trips/prague --yes              delete what the post no longer uses
  dreamtrip serve ~/trips/prague --cron "0 3 * * *" dream new photos every night at 3
  dreamtrip layers                                  what each VGG16 layer dreams
  dreamtrip weights --download                      the ImageNet weights (the classic look) now

Settings are documented in config/default.yaml (`dreamtrip settings` prints those a run
would use); album.yaml in the album folder holds the title, intro and per-photo story text
and layer overrides. OUT defaults to out/<album folder name>."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dreamtrip", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="dream an album and write its blog post",
                              description="Dream every photo of ALBUM that is not dreamed yet "
                                          "and write the post.")
    _album_args(run)
    _settings_args(run)
    _execution_args(run)
    run.add_argument("--renew", action="store_true",
                     help="dream again the dreams an earlier release's recipe made (by default they "
                          "stay in use, and only new photos and layers get this release's recipe)")
    run.add_argument("--preview", action="store_true",
                     help="dream every photo small first (images.preview_size) and write the "
                          "post with those previews, then dream at full size and write it again")
    _verbose_arg(run)

    retry = commands.add_parser("retry", help="redo only the failed and missing dreams",
                                description="Dream again exactly the photos and (photo, layer) "
                                            "pairs that OUT/manifest.json marks failed or whose "
                                            "file is missing, with the settings of the run that "
                                            "made them, then rewrite the post.")
    _album_args(retry)
    retry.add_argument("-c", "--config", type=Path,
                       help="the run's YAML settings: only where things lie on this machine "
                            "(output.store_dir, weights.cache_dir) is taken from it; how dreams "
                            "are made comes from OUT/manifest.json")
    _device_arg(retry)
    _execution_args(retry)
    _verbose_arg(retry)

    blog = commands.add_parser("blog", help="rewrite the post from what is stored (no dreaming)",
                               description="Rebuild index.html and post.md from OUT/manifest.json, "
                                           "ALBUM/album.yaml and the stored images: caption edits "
                                           "show up, photos removed from the album leave the page. "
                                           "Nothing is dreamed.")
    _album_args(blog)

    export = commands.add_parser("export", help="put the post into your Hugo or Jekyll site",
                                 description="Write the post of OUT into a blog you already have, "
                                             "ready to build: a Hugo page bundle "
                                             "(SITE/content/posts/<album>/index.md, its pictures "
                                             "beside it) or a Jekyll post (SITE/_posts/<date>-<album>.md, "
                                             "its pictures in SITE/assets/<album>/). Again after "
                                             "`dreamtrip blog`, it updates the same post. Writes "
                                             "only its own files, and records them in "
                                             "SITE/.dreamtrip-files.jsonl.")
    _album_args(export)
    export.add_argument("--hugo", type=Path, metavar="SITE", help="the Hugo site's folder")
    export.add_argument("--jekyll", type=Path, metavar="SITE", help="the Jekyll site's folder")

    clean = commands.add_parser("clean", help="delete stored files the post no longer uses",
                                description="List the files dreamtrip wrote in OUT that the post no "
                                            "longer uses (photos removed from the album, dreams "
                                            "made with old settings, leftovers of killed runs); "
                                            "delete them with --yes. Files it did not write stay.")
    _album_args(clean)
    clean.add_argument("--yes", action="store_true", help="delete them (default: only list)")

    serve = commands.add_parser("serve", help="dream the album on a schedule (Prefect deployment)",
                                description="Serve a Prefect deployment that runs `dreamtrip run "
                                            "ALBUM` on a cron schedule (this machine's time), until "
                                            "stopped; each run says what it did in one line. The "
                                            "schedule lives in the Prefect server at PREFECT_API_URL "
                                            "if set, else in dreamtrip's own, started with this "
                                            "command and stopped with it (its database in "
                                            "$XDG_DATA_HOME/dreamtrip/prefect).")
    _album_args(serve)
    when = serve.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='when to run, e.g. "0 3 * * *" (3:00 daily)')
    when.add_argument("--every", type=float, metavar="SECONDS",
                      help="run every SECONDS seconds instead (to try a schedule out, and for tests)")
    _settings_args(serve)
    _verbose_arg(serve)

    layers = commands.add_parser("layers", help="list VGG16 layers and what they dream")
    layers.add_argument("-c", "--config", type=Path, help="YAML settings over the defaults")

    shown = commands.add_parser("settings", help="print the settings a run would use",
                                description="Print the settings a run would use (the defaults, "
                                            "your -c file over them, the strength's values filled "
                                            "in), as YAML.")
    shown.add_argument("-c", "--config", type=Path, help="YAML settings over the defaults")

    weights = commands.add_parser("weights", help="find, fetch and prepare the VGG16 weights",
                                  description="Say which VGG16 weights a run would use and why, and "
                                              "prepare them. --download fetches torchvision's ImageNet "
                                              f"VGG16 ({IMAGENET.size_mb} MB, the classic DeepDream look) "
                                              "into torchvision's cache now (runs fetch it themselves "
                                              "with weights.download: auto); --from takes it from a "
                                              "mirror or a copy. Either is checked as torchvision "
                                              "checks it.")
    weights.add_argument("-c", "--config", type=Path, help="YAML settings over the defaults")
    weights.add_argument("--download", action="store_true",
                         help=f"fetch ImageNet VGG16 from torchvision's URL ({IMAGENET.size_mb} MB, once)")
    weights.add_argument("--from", dest="origin", metavar="URL_OR_PATH",
                         help="fetch it from this http(s) mirror or local file instead")
    return parser


def _album_args(parser) -> None:
    parser.add_argument("album", metavar="ALBUM", type=Path, help="folder of photos (sub-folders too)")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT",
                        help="output folder (default: out/<album name>)")


def _settings_args(parser) -> None:
    parser.add_argument("-c", "--config", type=Path, help="YAML settings over the defaults")
    parser.add_argument("--layers", action="append", metavar="LAYER[,LAYER...]",
                        help="layers to dream on, e.g. conv3_1,conv5_2 (see `dreamtrip layers`)")
    _device_arg(parser)


def _device_arg(parser) -> None:
    parser.add_argument("--device", choices=get_args(Settings.model_fields["device"].annotation),
                        help="where to dream")


def _verbose_arg(parser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs")


def _execution_args(parser) -> None:
    parser.add_argument("--wait", action="store_true",
                        help="if another run is writing OUT, wait for it (default: stop, exit 3)")
    parser.add_argument("--dask", metavar="ADDRESS",
                        help="run the tasks on Dask: the scheduler at ADDRESS (tcp://host:8786), "
                             "or `local`: a local cluster with one worker per GPU")
    parser.add_argument("--dask-workers", type=int, metavar="N",
                        help="workers of the local Dask cluster (default: one per GPU)")


# A layer's name as the user may type it: checked against the table with the rest of the settings.
_LAYER_LIKE = re.compile(r"conv\d+_\d+(,conv\d+_\d+)*,?")


def joined_layer_lists(argv: list[str]) -> list[str]:
    """`--layers` takes one comma list, so `run --layers conv4_2 ~/trip` leaves the album alone.
    Names after it that look like layers continue the list: `--layers conv4_2 conv5_2` (how
    earlier releases took it) still means conv4_2,conv5_2."""
    joined, listing = [], False
    for token in argv:
        if listing and _LAYER_LIKE.fullmatch(token):
            joined[-1] = f"{joined[-1].rstrip(',')},{token}"
            continue
        listing = bool(joined) and joined[-1] == "--layers" or token.startswith("--layers=")
        joined.append(token)
    return joined


def cli_overrides(args) -> dict:
    overrides = {}
    if args.layers:
        overrides["layers"] = [name for item in args.layers for name in item.split(",") if name]
    if args.device:
        overrides["device"] = args.device
    if args.output:
        overrides["output.dir"] = str(args.output)
    return overrides


def execution(args) -> Execution:
    return Execution(verbose=args.verbose, wait=args.wait, dask=args.dask, dask_workers=args.dask_workers)
