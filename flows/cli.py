"""dreamtrip's command line: run, retry, blog, clean, serve, layers, weights.

Exit codes: 0 every (photo, layer) dreamed; 1 some failed (the page lists them);
2 a usage, config or set-up error (nothing was dreamed); 3 another dreamtrip run is
writing the same output folder (nothing was done).

`blog` and `clean` never import torch or Prefect: they only read what runs have stored.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import get_args

from pipeline.ingest.album import load_album_text
from pipeline.config import ConfigError, Settings, load_settings
from pipeline.layers import LAYER_NAMES, layer_hint
from pipeline.lock import OutputBusy, output_lock
from pipeline.manifest import MANIFEST
from pipeline.post.view import counted
from pipeline.store import default_output_dir
from pipeline.dream.weights import IMAGENET_SIZE_MB

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
INTERRUPTED = "dreamtrip: interrupted; finished dreams are kept, rerun to continue"

DESCRIPTION = """\
Turn a trip's photo album into a travel-blog post where every photo stands beside
its DeepDream variants (VGG16). Writes index.html, post.md and manifest.json."""

EPILOG = """\
examples:
  dreamtrip run ~/trips/prague                      dream with the default settings
  dreamtrip run data/sample-album -c config/demo.yaml
  dreamtrip run ~/trips/prague --layers conv4_2 conv5_2 --device cuda -o site/prague
  dreamtrip retry ~/trips/prague                    redo only what failed
  dreamtrip blog ~/trips/prague                     rewrite the post after editing album.yaml
  dreamtrip clean ~/trips/prague --yes              delete what the post no longer uses
  dreamtrip serve ~/trips/prague --cron "0 3 * * *" dream new photos every night at 3
  dreamtrip layers                                  what each VGG16 layer dreams
  dreamtrip weights --download                      the ImageNet weights: the classic look

Settings are documented in config/default.yaml (`dreamtrip settings` prints those a run
would use); album.yaml in the album folder holds the title, intro and per-photo story text
and layer overrides. OUT defaults to out/<album folder name>."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except ConfigError as err:
        print(f"dreamtrip: config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as err:
        print(f"dreamtrip: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OutputBusy as err:
        print(f"dreamtrip: {err}", file=sys.stderr)
        return EXIT_BUSY
    except KeyboardInterrupt:
        print(f"\n{INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED


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
    _verbose_arg(run)
    run.set_defaults(handler=cmd_run)

    retry = commands.add_parser("retry", help="redo only the failed and missing dreams",
                                description="Dream again exactly the photos and (photo, layer) "
                                            "pairs that OUT/manifest.json marks failed or whose "
                                            "file is missing, with the settings of the run that "
                                            "made them, then rewrite the post.")
    _album_args(retry)
    _device_arg(retry)
    _execution_args(retry)
    _verbose_arg(retry)
    retry.set_defaults(handler=cmd_retry)

    blog = commands.add_parser("blog", help="rewrite the post from what is stored (no dreaming)",
                               description="Rebuild index.html and post.md from OUT/manifest.json, "
                                           "ALBUM/album.yaml and the stored images: caption edits "
                                           "show up, photos removed from the album leave the page. "
                                           "Nothing is dreamed.")
    _album_args(blog)
    blog.set_defaults(handler=cmd_blog)

    clean = commands.add_parser("clean", help="delete stored files the post no longer uses",
                                description="List the files in OUT that the post no longer uses "
                                            "(photos removed from the album, dreams made with "
                                            "old settings, leftovers of killed runs); delete "
                                            "them with --yes.")
    _album_args(clean)
    clean.add_argument("--yes", action="store_true", help="delete them (default: only list)")
    clean.set_defaults(handler=cmd_clean)

    serve = commands.add_parser("serve", help="dream the album on a schedule (Prefect deployment)",
                                description="Serve a Prefect deployment that runs `dreamtrip run "
                                            "ALBUM` on a cron schedule, until stopped. Uses the "
                                            "Prefect server at PREFECT_API_URL if set.")
    _album_args(serve)
    serve.add_argument("--cron", required=True, help='when to run, e.g. "0 3 * * *" (3:00 daily)')
    _settings_args(serve)
    _verbose_arg(serve)
    serve.set_defaults(handler=cmd_serve)

    layers = commands.add_parser("layers", help="list VGG16 layers and what they dream")
    layers.add_argument("-c", "--config", type=Path, help="YAML settings over the defaults")
    layers.set_defaults(handler=cmd_layers)

    shown = commands.add_parser("settings", help="print the settings a run would use",
                                description="Print the settings a run would use (the defaults, "
                                            "your -c file over them, the strength's values filled "
                                            "in), as YAML.")
    shown.add_argument("-c", "--config", type=Path, help="YAML settings over the defaults")
    shown.set_defaults(handler=cmd_settings)

    weights = commands.add_parser("weights", help="find, fetch and prepare the VGG16 weights",
                                  description="Say which VGG16 weights a run would use and why, and "
                                              "prepare them. --download fetches torchvision's ImageNet "
                                              f"VGG16 ({IMAGENET_SIZE_MB} MB, the classic DeepDream look) "
                                              "into torchvision's cache; --from takes it from a mirror or "
                                              "a copy. Either is checked as torchvision checks it.")
    weights.add_argument("-c", "--config", type=Path, help="YAML settings over the defaults")
    weights.add_argument("--download", action="store_true",
                         help=f"fetch ImageNet VGG16 from torchvision's URL ({IMAGENET_SIZE_MB} MB, once)")
    weights.add_argument("--from", dest="origin", metavar="URL_OR_PATH",
                         help="fetch it from this http(s) mirror or local file instead")
    weights.set_defaults(handler=cmd_weights)
    return parser


def _album_args(parser) -> None:
    parser.add_argument("album", metavar="ALBUM", type=Path, help="folder of photos (sub-folders too)")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT",
                        help="output folder (default: out/<album name>)")


def _settings_args(parser) -> None:
    parser.add_argument("-c", "--config", type=Path, help="YAML settings over the defaults")
    parser.add_argument("--layers", nargs="+", metavar="LAYER",
                        help="layers to dream on, e.g. conv3_1 conv5_2 (see `dreamtrip layers`)")
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


def cli_overrides(args) -> dict:
    overrides = {}
    if args.layers:
        overrides["layers"] = [name for item in args.layers for name in item.split(",") if name]
    if args.device:
        overrides["device"] = args.device
    if args.output:
        overrides["output.dir"] = str(args.output)
    return overrides


class UsageError(Exception):
    """A mistake in how dreamtrip was called: one line, exit code 2, nothing done."""


def album_folder(args) -> Path:
    if not args.album.is_dir():
        raise UsageError(f"{args.album}: no such album folder")
    return args.album


def stored_run(args, missing: str | None = None):
    """(OUT, its manifest) for the commands that read a run's results: OUT is -o, else
    out/<album name>. A usage error when the album is not there (every photo would count as
    removed from it) or OUT has no manifest (saying `missing`: by default, to run first)."""
    from pipeline.manifest import ManifestError, read_manifest

    album_folder(args)
    out = default_output_dir(args.album, args.output)
    if not (out / MANIFEST).is_file():
        missing = missing or f"run `dreamtrip run {args.album}` first"
        raise UsageError(f"{out}: no manifest.json: {missing}")
    try:
        return out, read_manifest(out)
    except ManifestError as err:
        raise UsageError(str(err)) from None


# ---- run and retry: the Prefect flow ----

def check_execution_args(args) -> None:
    if args.dask_workers and args.dask != "local":
        raise UsageError("--dask-workers only applies with --dask local")


def cmd_run(args) -> int:
    check_execution_args(args)
    overrides = cli_overrides(args)
    settings = load_settings(args.config, overrides)
    check_image_formats(settings)
    album = album_folder(args)
    check_album(album)
    # The lock first, before torch and Prefect load (seconds): a second command stops at once.
    with output_lock(default_output_dir(album, settings.output.dir_path), None if args.wait else 0.0):
        check_device_and_weights(settings)
        manifest = run_flow(args, str(args.config) if args.config else None, overrides)
    print_summary(manifest)
    return EXIT_SOME_FAILED if manifest.failures() else EXIT_OK


def check_album(album: Path) -> None:
    """Mistakes in the album stop the run before any work: album.yaml, or no photo at all.
    album.yaml entries that match no photo are warned about (their stories would be lost)."""
    from pipeline.ingest.album import find_photos

    text, files = load_album_text(album), find_photos(album)
    if not files.photos:
        skipped = "".join(f"\n  skipped {entry.source}: {entry.reason}" for entry in files.skipped)
        raise UsageError(f"no photos found in {album}{skipped}")
    warn_unmatched(text.unmatched(files.photos))


def warn_unmatched(unmatched) -> None:
    for entry in unmatched:
        print(f"dreamtrip: warning: {entry.message}", file=sys.stderr)


def check_image_formats(settings) -> None:
    """An image format this Pillow cannot write (images.formats) is a set-up error: every copy
    would fail. Say so before any work."""
    from PIL import __version__ as pillow_version

    from pipeline.store import unwritable_formats

    missing = unwritable_formats(settings.images.formats)
    if missing:
        raise UsageError(f"images.formats: this Pillow ({pillow_version}) cannot write {', '.join(missing)}: "
                         "install Pillow 11.3 or later (its wheels write AVIF), or set images.formats: [jpeg]")


def check_device_and_weights(settings) -> None:
    """A missing GPU or weights file is a set-up error: say so before Prefect starts."""
    from pipeline.dream.engine import DeviceError, pick_device
    from pipeline.dream.weights import WeightsError, choose_weights

    try:
        pick_device(settings.device)
        choose_weights(settings.weights.source)
    except (DeviceError, WeightsError) as err:
        raise UsageError(str(err)) from None


def cmd_retry(args) -> int:
    from pipeline.upkeep import retry_outcome, retry_settings, unfinished

    check_execution_args(args)
    out, manifest = stored_run(args)
    todo = unfinished(manifest, out)
    if not todo:
        print(f"Nothing to retry: every photo and dream in {out / MANIFEST} is done.")
        return EXIT_OK
    settings = retry_settings(manifest, out, args.device)
    with output_lock(out, None if args.wait else 0.0):
        check_image_formats(load_settings(None, settings))
        check_device_and_weights(load_settings(None, settings))
        print(f"Retrying {len(todo)}:")
        for item in todo:
            print(f"  {item}: {item.reason}")
        after = run_flow(args, None, settings, only_photos=[photo.source for photo in manifest.photos])
    fixed, failing = retry_outcome(todo, after)
    print(f"Retried {len(todo)}: {len(fixed)} now ok, {len(failing)} still failing")
    for line in failing:
        print(f"  still failing: {line}")
    print(f"Page: {after.page}")
    return EXIT_SOME_FAILED if after.failures() else EXIT_OK


def run_flow(args, config: str | None, overrides: dict, only_photos: list[str] | None = None):
    """Run the flow (on Dask if asked) and return its manifest. The caller holds OUT's lock."""
    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        # Dask's scheduler, nannies and workers (which inherit this) chat at INFO by default.
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    from flows.dream_album import dream_album  # Prefect and torch load only for a real run

    flow_fn = dream_album
    if args.dask:
        from flows.scale import dask_task_runner

        address = None if args.dask == "local" else args.dask
        flow_fn = dream_album.with_options(task_runner=dask_task_runner(address, args.dask_workers))
    previous = signal.signal(signal.SIGINT, stop_now)
    try:
        return flow_fn(str(args.album), config, overrides, only_photos=only_photos)
    except RuntimeError as err:
        if "ephemeral Prefect API server" not in str(err):
            raise
        raise UsageError("Prefect's temporary server did not start in time (a busy machine?): run "
                         "the command again, or keep a Prefect server running (README: \"A "
                         "long-lived Prefect server\")") from None
    finally:
        signal.signal(signal.SIGINT, previous)


def stop_now(signum, frame) -> None:
    """Ctrl-C during a run: stop at once. Nothing is lost: every file is written under a temporary
    name and renamed when complete, the output folder's lock dies with the process, and the next
    run finishes the album. (Unwinding instead would wait for the dream on the device and for
    Prefect's temporary server, which the same Ctrl-C has already stopped.)"""
    print(f"\n{INTERRUPTED}", file=sys.stderr, flush=True)
    os._exit(EXIT_INTERRUPTED)


def print_summary(manifest) -> None:
    from pipeline.dream.weights import summary_line, upgrade_hint

    dreams, run = manifest.dreams(), manifest.run
    ok = sum(dream.ok for dream in dreams)
    print(summary_line(manifest.weights))
    if hint := upgrade_hint(manifest.weights):
        print(hint)
    print(f"{counted(len(manifest.photos), 'photo')}, {ok} of {counted(len(dreams), 'dream')} ok"
          + (f" ({run.dreamed} dreamed now, {run.reused} from earlier runs)" if run else "")
          + (f", {counted(len(manifest.skipped), 'file')} skipped (listed on the page)"
             if manifest.skipped else ""))
    for line in manifest.failures():
        print(f"  failed: {line}")
    print(f"Page: {manifest.page}")


# ---- blog and clean: only what is stored; no torch, no Prefect ----

def cmd_blog(args) -> int:
    from pipeline.upkeep import rebuild_post

    out, _ = stored_run(args)
    started = time.perf_counter()
    with output_lock(out):
        refreshed, page = rebuild_post(args.album, out)
    print(f"Post rebuilt from {out / MANIFEST} and album.yaml: "
          f"{counted(len(refreshed.manifest.photos), 'photo')}, "
          f"nothing dreamed ({time.perf_counter() - started:.2f} s)")
    _list("removed from the album, so off the page (`dreamtrip clean` deletes their files)",
          refreshed.removed)
    _list("new in the album, not dreamed yet (`dreamtrip run` adds them)", refreshed.new)
    _list("dream files missing (`dreamtrip retry` dreams them again)", refreshed.missing)
    warn_unmatched(refreshed.manifest.unmatched)
    print(f"Page: {page.resolve()}")
    return EXIT_OK


def cmd_clean(args) -> int:
    from pipeline.upkeep import clean_output

    out, manifest = stored_run(args, "nothing to compare the files with")
    if manifest.settings.output.store_dir:
        print(f"(The shared store {manifest.settings.output.store_dir} is left alone: other albums may use it.)")
    with output_lock(out):
        cleaning = clean_output(args.album, out, delete=args.yes)
    if not cleaning.unused:
        print(f"Nothing to clean in {out}.")
        return EXIT_OK
    if not cleaning.deleted:
        for path in cleaning.unused:
            print(f"  {path.relative_to(out)}  {_size(path.stat().st_size)}")
        print(f"{counted(len(cleaning.unused), 'file')} ({_size(cleaning.size)}) not used by the post; "
              "run again with --yes to delete them.")
        return EXIT_OK
    if cleaning.removed_photos:
        print(f"Post rewritten without {counted(len(cleaning.removed_photos), 'photo')} removed from the album.")
    print(f"Deleted {counted(len(cleaning.unused), 'file')} ({_size(cleaning.size)}).")
    return EXIT_OK


def _list(title: str, items: list[str]) -> None:
    if items:
        print(f"{len(items)} {title}:")
        for item in items:
            print(f"  {item}")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


# ---- serve: a scheduled deployment ----

def cmd_serve(args) -> int:
    overrides = cli_overrides(args)
    settings = load_settings(args.config, overrides)
    check_image_formats(settings)
    album_folder(args)
    # Scheduled runs may start elsewhere: pin the output folder to an absolute path now.
    overrides["output.dir"] = str(default_output_dir(args.album, settings.output.dir_path).resolve())
    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect import serve

    from flows.deploy import build_deployment

    try:
        deployment = build_deployment(args.album, args.cron, args.config, overrides)
    except ValueError as err:  # pydantic's ValidationError is one: a bad cron string
        raise UsageError(f"--cron {args.cron!r}: {err}") from None
    print(f"Serving deployment dream-album/{deployment.name} on cron {args.cron!r} "
          f"(writes {overrides['output.dir']}). Ctrl-C stops it and pauses the schedule.")
    serve(deployment)  # registers it, then runs each scheduled run until stopped
    return EXIT_OK


# ---- the rest ----

def cmd_layers(args) -> int:
    """What each layer dreams with the weights a run would use (they differ: see `weights`)."""
    from pipeline.dream.weights import WeightsError, choose_weights, summary_line

    try:
        choice = choose_weights(load_settings(args.config).weights.source)
    except WeightsError as err:
        raise UsageError(str(err)) from None
    print(f"With the weights a run would use here: {summary_line(choice).removeprefix('Weights: ')}")
    for name in LAYER_NAMES:
        print(f"{name}  {layer_hint(name, choice.source)}")
    return EXIT_OK


def cmd_weights(args) -> int:
    from pipeline.dream.download import fetch_imagenet
    from pipeline.dream.weights import (IMAGENET_FILE, WeightsError, choose_weights, imagenet_path,
                                  prepare_features, upgrade_hint)

    settings = load_settings(args.config)
    try:
        if args.download or args.origin:
            fetch_imagenet(args.origin, say=print)
        choice = choose_weights(settings.weights.source)
        prepare_features(choice, settings.weights.cache_path)  # verified once, features kept
    except WeightsError as err:
        raise UsageError(str(err)) from None
    print(f"{choice.description}\n  {choice.note}\n  why: {choice.reason}\n  file: {choice.path}")
    if hint := upgrade_hint(choice):
        print(f"{hint}\nOr copy {IMAGENET_FILE} to {imagenet_path()} (from a mirror or another machine).")
    return EXIT_OK


def cmd_settings(args) -> int:
    """The settings a run would use, as YAML, with what the strength preset sets filled in."""
    import yaml

    settings = load_settings(args.config)
    data = settings.as_dict()
    from_preset = [key for key, value in data["dream"].items() if value is None]
    data["dream"].update({key: getattr(settings.dream.params(), key) for key in from_preset})
    if from_preset:
        print(f"# dream.{', dream.'.join(from_preset)}: set by strength {settings.dream.strength}")
    print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
