"""dreamtrip's command line: run, retry, blog, clean, serve, layers, weights.

Exit codes: 0 every (photo, layer) dreamed; 1 some failed (the page lists them);
2 a usage, config or set-up error (nothing was dreamed); 3 another dreamtrip run is
writing the same output folder (nothing was done).

`blog` and `clean` never import torch or Prefect: they only read what runs have stored.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

from pipeline.album import load_album_text
from pipeline.config import ConfigError, load_settings
from pipeline.layers import LAYER_NAMES, layer_hint
from pipeline.lock import OutputBusy, output_lock
from pipeline.store import default_output_dir

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3

DESCRIPTION = """\
Turn a trip's photo album into a travel-blog post where every photo stands beside
its DeepDream variants (VGG16). Writes index.html, post.md and manifest.json."""

EPILOG = """\
examples:
  dreamtrip run ~/trips/prague                      dream with config/default.yaml
  dreamtrip run data/sample-album -c config/demo.yaml
  dreamtrip run ~/trips/prague --layers conv4_2 conv5_2 --device cuda -o site/prague
  dreamtrip retry ~/trips/prague                    redo only what failed
  dreamtrip blog ~/trips/prague                     rewrite the post after editing album.yaml
  dreamtrip clean ~/trips/prague --yes              delete what the post no longer uses
  dreamtrip serve ~/trips/prague --cron "0 3 * * *" dream new photos every night at 3
  dreamtrip layers                                  what each VGG16 layer dreams

Settings are documented in config/default.yaml; album.yaml in the album folder holds
the title, intro and per-photo story text and layer overrides. OUT defaults to
out/<album folder name>."""


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
    except OutputBusy as err:
        print(f"dreamtrip: {err}", file=sys.stderr)
        return EXIT_BUSY
    except KeyboardInterrupt:
        print("\ndreamtrip: interrupted; finished dreams are kept, rerun to continue", file=sys.stderr)
        return 130


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
    retry.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to dream")
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
    layers.set_defaults(handler=cmd_layers)

    weights = commands.add_parser("weights", help="find, fetch and prepare the VGG16 weights",
                                  description="Say which VGG16 weights a run would use and why, and "
                                              "prepare them. --download fetches torchvision's ImageNet "
                                              "VGG16 (528 MB, the classic DeepDream look) into "
                                              "torchvision's cache; --from takes it from a mirror or a "
                                              "copy. Either is checked as torchvision checks it.")
    weights.add_argument("-c", "--config", type=Path, help="YAML settings over config/default.yaml")
    weights.add_argument("--download", action="store_true",
                         help="fetch ImageNet VGG16 from torchvision's URL (528 MB, once)")
    weights.add_argument("--from", dest="origin", metavar="URL_OR_PATH",
                         help="fetch it from this http(s) mirror or local file instead")
    weights.set_defaults(handler=cmd_weights)
    return parser


def _album_args(parser) -> None:
    parser.add_argument("album", metavar="ALBUM", type=Path, help="folder of photos (sub-folders too)")
    parser.add_argument("-o", "--output", type=Path, metavar="OUT",
                        help="output folder (default: out/<album name>)")


def _settings_args(parser) -> None:
    parser.add_argument("-c", "--config", type=Path, help="YAML settings over config/default.yaml")
    parser.add_argument("--layers", nargs="+", metavar="LAYER",
                        help="layers to dream on, e.g. conv3_1 conv5_2 (see `dreamtrip layers`)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to dream")


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
    if getattr(args, "layers", None):
        overrides["layers"] = [name for item in args.layers for name in item.split(",") if name]
    if getattr(args, "device", None):
        overrides["device"] = args.device
    if args.output:
        overrides["output.dir"] = str(args.output)
    return overrides


def output_dir(args) -> Path:
    """OUT for the commands that read a run's results: -o, else out/<album name>."""
    return default_output_dir(args.album, args.output)


# ---- run and retry: the Prefect flow ----

def cmd_run(args) -> int:
    overrides = cli_overrides(args)
    settings = load_settings(args.config, overrides)  # fail fast, before Prefect starts its server
    if not args.album.is_dir():
        return _usage(f"{args.album}: no such album folder")
    load_album_text(args.album)  # a mistake in album.yaml, too, stops the run before any work
    if not args.wait:
        _refuse_if_busy(default_output_dir(args.album, settings.output_dir))
    manifest = _run_flow(args, str(args.config) if args.config else None, overrides)
    if manifest is None:
        return EXIT_USAGE
    from pipeline.manifest import failures

    print_summary(manifest, failures(manifest))
    return EXIT_SOME_FAILED if failures(manifest) else EXIT_OK


def cmd_retry(args) -> int:
    from pipeline.manifest import failures, unfinished

    if not args.album.is_dir():
        return _usage(f"{args.album}: no such album folder")
    out = output_dir(args)
    manifest = _manifest_or_none(out)
    if manifest is None:
        return _usage(f"{out}: no manifest.json: run `dreamtrip run {args.album}` first")
    if "settings" not in manifest:
        return _usage(f"{out}/manifest.json does not record its settings (made by an older "
                      "dreamtrip): run `dreamtrip run` again")
    todo = unfinished(manifest, out)
    if not todo:
        print(f"Nothing to retry: every photo and dream in {out / 'manifest.json'} is done.")
        return EXIT_OK
    if not args.wait:
        _refuse_if_busy(out)
    print(f"Retrying {len(todo)}:")
    for source, layer, reason in todo:
        print(f"  {_pair(source, layer)}: {reason}")

    # The settings that made the rest of the album, so the retried dreams match them.
    settings = copy.deepcopy(manifest["settings"])
    settings["output"]["dir"] = str(out)
    settings["weights"]["source"] = manifest["weights"]["source"]  # not `auto` again: same weights
    if args.device:
        settings["device"] = args.device
    only = [photo["source"] for photo in manifest["photos"]]
    after = _run_flow(args, None, settings, only_photos=only)
    if after is None:
        return EXIT_USAGE
    print_retry_report(todo, after)
    print(f"Page: {after['page']}")
    return EXIT_SOME_FAILED if failures(after) else EXIT_OK


def _refuse_if_busy(out: Path) -> None:
    """Say at once that another run holds OUT, rather than after Prefect's start-up. The flow
    takes the lock itself (scheduled runs have no CLI): this is only the early warning."""
    with output_lock(out):
        pass


def _run_flow(args, config: str | None, overrides: dict, only_photos: list[str] | None = None):
    """Run the flow (on Dask if asked); the manifest, or None after printing a set-up error."""
    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        # Dask's scheduler, nannies and workers (which inherit this) chat at INFO by default.
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    from flows.dream_album import dream_album  # Prefect and torch load only for a real run
    from pipeline.dream import DeviceError
    from pipeline.weights import WeightsError

    flow_fn = dream_album
    if args.dask_workers and args.dask != "local":
        print("dreamtrip: --dask-workers only applies with --dask local", file=sys.stderr)
        return None
    if args.dask:
        from flows.scale import dask_task_runner

        address = None if args.dask == "local" else args.dask
        flow_fn = dream_album.with_options(task_runner=dask_task_runner(address, args.dask_workers))
    try:
        return flow_fn(str(args.album), config, overrides, only_photos=only_photos,
                       lock_wait_s=None if args.wait else 0.0)
    except (WeightsError, DeviceError) as err:
        print(f"dreamtrip: {err}", file=sys.stderr)
        return None


def print_summary(manifest: dict, failed: list[str]) -> None:
    photos = manifest["photos"]
    dreams = [d for p in photos for d in p["dreams"]]
    ok = [d for d in dreams if d["status"] == "ok"]
    weights = manifest["weights"]
    run = manifest.get("run") or {}
    print(f"Weights: {weights['description']}: {weights['note']} ({weights['reason']})")
    print(f"{len(photos)} photos, {len(ok)} of {len(dreams)} dreams ok"
          + (f" ({run['dreamed']} dreamed now, {run['reused']} from earlier runs)" if run else "")
          + (f", {len(manifest['skipped'])} files skipped (listed on the page)" if manifest["skipped"] else ""))
    for line in failed:
        print(f"  failed: {line}")
    print(f"Page: {manifest['page']}")


def print_retry_report(todo: list, manifest: dict) -> None:
    photos = {photo["source"]: photo for photo in manifest["photos"]}
    fixed, failing = [], []
    for source, layer, _reason in todo:
        photo = photos.get(source)
        if photo is None:
            failing.append(f"{source}: no longer in the album")
        elif photo["status"] != "ok":
            failing.append(f"{source}: {photo['error']}")
        elif layer is None:  # a whole photo: it and all its dreams
            bad = [d for d in photo["dreams"] if d["status"] != "ok"]
            (failing if bad else fixed).append(
                f"{source}: " + ("; ".join(f"[{d['layer']}] {d['error']}" for d in bad) if bad
                                 else f"ingested, {len(photo['dreams'])} dreams ok"))
        else:
            dream = next((d for d in photo["dreams"] if d["layer"] == layer), None)
            if dream is not None and dream["status"] == "ok":
                fixed.append(_pair(source, layer))
            else:
                why = dream["error"] if dream else "no longer one of its layers"
                failing.append(f"{_pair(source, layer)}: {why}")
    print(f"Retried {len(todo)}: {len(fixed)} now ok, {len(failing)} still failing")
    for line in failing:
        print(f"  still failing: {line}")


def _pair(source: str, layer: str | None) -> str:
    return f"{source} [{layer}]" if layer else source


# ---- blog and clean: only what is stored; no torch, no Prefect ----

def cmd_blog(args) -> int:
    from pipeline.blog import rebuild_post

    if not args.album.is_dir():
        return _usage(f"{args.album}: no such album folder")
    out = output_dir(args)
    if _manifest_or_none(out) is None:
        return _usage(f"{out}: no manifest.json: run `dreamtrip run {args.album}` first")
    started = time.perf_counter()
    with output_lock(out):
        refreshed, page = rebuild_post(args.album, out)
    photos = refreshed.manifest["photos"]
    print(f"Post rebuilt from {out / 'manifest.json'} and album.yaml: {len(photos)} photos, "
          f"nothing dreamed ({time.perf_counter() - started:.2f} s)")
    _list("removed from the album, so off the page (`dreamtrip clean` deletes their files)",
          refreshed.removed)
    _list("new in the album, not dreamed yet (`dreamtrip run` adds them)", refreshed.new)
    _list("dream files missing (`dreamtrip retry` dreams them again)", refreshed.missing)
    print(f"Page: {page}")
    return EXIT_OK


def cmd_clean(args) -> int:
    from pipeline.blog import rebuild_post, refresh_manifest
    from pipeline.clean import unreferenced_files

    if not args.album.is_dir():  # an album that is not there would make every photo "removed"
        return _usage(f"{args.album}: no such album folder")
    out = output_dir(args)
    manifest = _manifest_or_none(out)
    if manifest is None:
        return _usage(f"{out}: no manifest.json: nothing to compare the files with")
    with output_lock(out):
        refreshed = refresh_manifest(manifest, args.album, out)
        unused = unreferenced_files(refreshed.manifest, out)
        store = ((manifest.get("settings") or {}).get("output") or {}).get("store_dir")
        if store:
            print(f"(The shared store {store} is left alone: other albums may use it.)")
        if not unused:
            print(f"Nothing to clean in {out}.")
            return EXIT_OK
        total = sum(path.stat().st_size for path in unused)
        for path in unused:
            print(f"  {path.relative_to(out)}  {_size(path.stat().st_size)}")
        if not args.yes:
            print(f"{len(unused)} files ({_size(total)}) are not used by the post; "
                  "run again with --yes to delete them.")
            return EXIT_OK
        if refreshed.removed:  # the page must not point at files about to go
            rebuild_post(args.album, out)
            print(f"Post rewritten without {len(refreshed.removed)} photos removed from the album.")
        for path in unused:
            path.unlink(missing_ok=True)
    print(f"Deleted {len(unused)} files ({_size(total)}).")
    return EXIT_OK


def _manifest_or_none(out: Path) -> dict | None:
    from pipeline.manifest import MANIFEST, read_manifest

    return read_manifest(out) if (out / MANIFEST).is_file() else None


def _list(title: str, items: list[str]) -> None:
    if items:
        print(f"{len(items)} {title}:")
        for item in items:
            print(f"  {item}")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


# ---- serve: a scheduled deployment ----

def cmd_serve(args) -> int:
    overrides = cli_overrides(args)
    settings = load_settings(args.config, overrides)
    if not args.album.is_dir():
        return _usage(f"{args.album}: no such album folder")
    # Scheduled runs may start elsewhere: pin the output folder to an absolute path now.
    overrides["output.dir"] = str(default_output_dir(args.album, settings.output_dir).resolve())
    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from flows.deploy import build_deployment, serve

    try:
        deployment = build_deployment(args.album, args.cron, args.config, overrides)
    except ValueError as err:  # pydantic's ValidationError is one: a bad cron string
        return _usage(f"--cron {args.cron!r}: {err}")
    print(f"Serving deployment dream-album/{deployment.name} on cron {args.cron!r} "
          f"(writes {overrides['output.dir']}). Ctrl-C stops it and pauses the schedule.")
    serve(deployment)
    return EXIT_OK


# ---- the rest ----

def cmd_layers(args) -> int:
    for name in LAYER_NAMES:
        print(f"{name}  {layer_hint(name)}")
    return EXIT_OK


def cmd_weights(args) -> int:
    from pipeline.download import fetch_imagenet
    from pipeline.weights import WeightsError, choose_weights, prepare_features

    settings = load_settings(args.config)
    try:
        if args.download or args.origin:
            fetch_imagenet(args.origin, say=print)
        choice = choose_weights(settings.weights_source)
        prepare_features(choice, settings.weights_cache_dir)  # verified once, features kept
    except WeightsError as err:
        print(f"dreamtrip: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{choice.description}\n  {choice.note}\n  why: {choice.reason}\n  file: {choice.path}")
    if choice.upgrade_hint:
        print(choice.upgrade_hint)
    return EXIT_OK


def _usage(message: str) -> int:
    print(f"dreamtrip: {message}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
