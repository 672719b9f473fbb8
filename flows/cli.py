"""dreamtrip's command line: run, retry, blog, export, clean, serve, layers, weights.

Exit codes: 0 every (photo, layer) dreamed; 1 some failed (the page lists them);
2 a usage, config or set-up error (nothing was dreamed), or the disk filled up (what was
finished is kept: the same command continues); 3 another dreamtrip run is
writing the same output folder (nothing was done).

`blog`, `export` and `clean` never import torch or Prefect: they only read what runs have stored.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from flows import hosting, launch
from flows.arguments import IMAGENET, build_parser, cli_overrides, execution, joined_layer_lists
from flows.preflight import UsageError, stored_run, warn_unmatched
from flows.report import counts_line, os_error_line, photos_line
from flows.serving import ScheduleError, check_cron
from flows.stopping import EXIT_INTERRUPTED, INTERRUPTED, stopping_at_once
from pipeline.config import ConfigError, load_settings
from pipeline.layers import LAYER_NAMES, layer_line
from pipeline.output.files import DiskFull, LinkInTheWay
from pipeline.output.folder import OutputFolderError
from pipeline.output.layout import MANIFEST
from pipeline.output.lock import OutputBusy
from pipeline.post.export import ExportError
from pipeline.post.view import counted
from pipeline.text import human_size

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(joined_layer_lists(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except ConfigError as err:
        print(f"dreamtrip: config error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, OutputFolderError, LinkInTheWay, ExportError, ScheduleError) as err:
        print(f"dreamtrip: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OutputBusy as err:
        print(f"dreamtrip: {err}", file=sys.stderr)
        return EXIT_BUSY
    except DiskFull as err:
        print(f"dreamtrip: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # the disk or a folder refusing a write (read-only, full): not a bug
        print(f"dreamtrip: {os_error_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if (line := prefect_home_line(err)) is None:
            raise
        print(f"dreamtrip: {line}", file=sys.stderr)
        return EXIT_USAGE


def prefect_home_line(err: Exception) -> str | None:
    """PREFECT_HOME's disk filling during a run, in one line (flows/hosting.py); None for
    any other error. Prefect is looked at only when the error came from it."""
    if "prefect" not in sys.modules:
        return None
    return hosting.prefect_home_filled(err)


def warn(message: str) -> None:
    print(f"dreamtrip: warning: {message}", file=sys.stderr)


# ---- run and retry: the Prefect flow ----

def cmd_run(args) -> int:
    how = execution(args)
    manifest = launch.run(args.album, args.config, cli_overrides(args), how, warn, say, renew=args.renew,
                          preview=args.preview)
    print_summary(manifest)
    for engine, site in load_settings(args.config, cli_overrides(args)).export.sites():
        print(f"Exported to {engine.title()}: {site}")   # (the flow did: `export:` in the settings)
    return EXIT_SOME_FAILED if manifest.failures() else EXIT_OK


def say(line: str) -> None:
    """What the command is about to do: on stdout, at once (the summary follows it there)."""
    print(line, flush=True)


def cmd_retry(args) -> int:
    from flows.upkeep import retry_outcome

    how = execution(args)
    with stopping_at_once(), stored_run(args.album, args.output, how.lock_wait_s,
                                        writes_pictures=True) as (out, manifest):
        todo, after = launch.retry(args.album, out, manifest, args.device, args.config, how, warn, say)
    if after is None:
        print(f"Nothing to retry: every photo and dream in {out / MANIFEST} is done.")
        return EXIT_OK
    fixed, failing = retry_outcome(todo, after)
    print(f"Retried {len(todo)}: {len(fixed)} now ok, {len(failing)} still failing")
    for line in failing:
        print(f"  still failing: {line}")
    print_log_file()
    print_next_step(after)
    print(f"Page: {after.page}")
    return EXIT_SOME_FAILED if after.failures() else EXIT_OK


def print_summary(manifest) -> None:
    from pipeline.dream.weights import summary_line, upgrade_hint

    dreams = manifest.dreams()
    print(summary_line(manifest.weights))
    if hint := upgrade_hint(manifest.weights, manifest.settings.weights.download):
        print(hint)
    print(counts_line(manifest))
    if older := sum(dream.ok and dream.older_recipe for dream in dreams):
        print(f"{counted(older, 'dream')} {'is' if older == 1 else 'are'} of an older recipe (an earlier "
              "release, or other weights): kept on the page; `dreamtrip run --renew` dreams "
              f"{'it' if older == 1 else 'them'} again with this one")
    for line in manifest.failures():
        print(f"  failed: {line}")
    print_log_file()
    print_next_step(manifest)
    print(f"Page: {manifest.page}")


def print_log_file() -> None:
    if path := hosting.log_file():
        print(f"Prefect's log of this run (tracebacks): {path}")


def print_next_step(manifest) -> None:
    """What to do about failures: the author's business, so the terminal says it (the post does not)."""
    if manifest.next_step:
        print(f"To do: {manifest.next_step}.")


# ---- blog and clean: only what is stored; no torch, no Prefect ----

def cmd_blog(args) -> int:
    from flows.upkeep import rebuild_post

    started = time.perf_counter()
    with stored_run(args.album, args.output, writes_post=True) as (out, manifest):
        refreshed, page = rebuild_post(args.album, out, manifest)
    print(f"Post rebuilt from {out / MANIFEST} and album.yaml: {photos_line(refreshed.manifest.photos)}, "
          f"nothing dreamed ({time.perf_counter() - started:.2f} s)")
    _list("removed from the album, so off the page (`dreamtrip clean` deletes their files)",
          refreshed.removed)
    _list("new in the album, not dreamed yet (`dreamtrip run` adds them)", refreshed.new)
    _list("moved within the album (found by content: their dreams are kept)",
          [f"{old} -> {new}" for old, new in refreshed.moved.items()])
    _list("photo copies or dreams missing or damaged (`dreamtrip retry` makes them again)", refreshed.missing)
    warn_unmatched(refreshed.manifest.unmatched, warn)
    print(f"Page: {page.resolve()}")
    return EXIT_OK


def cmd_export(args) -> int:
    from pipeline.ingest.album import ALBUM_FILE
    from pipeline.post.export import export_post, plan_export

    sites = [(engine, site) for engine, site in (("hugo", args.hugo), ("jekyll", args.jekyll)) if site]
    if not sites:
        raise UsageError("export: say where to: --hugo SITE or --jekyll SITE (your site's folder)")
    with stored_run(args.album, args.output) as (out, manifest):
        # every site checked, and its post's place decided, before anything is written to any
        blogs = [plan_export(args.album, out, engine, site) for engine, site in sites]
        if _newer(args.album / ALBUM_FILE, out / MANIFEST):
            warn(f"{args.album / ALBUM_FILE} changed since the post was written: run "
                 f"`dreamtrip blog {args.album}` first to export the change")
        for blog in blogs:
            print_export(blog.engine.name, blog.site, export_post(manifest, out, blog))
    return EXIT_OK


def print_export(engine: str, site: Path, exported) -> None:
    from pipeline.post.export import ENGINES

    print(f"Exported to {engine.title()}: {exported.post} "
          f"({counted(exported.pictures, 'picture')} with it); build it with "
          f"{ENGINES[engine].build} in {site}")
    if exported.taken:
        print(f"  named {exported.slug} in the site: {exported.taken}")
    if exported.removed:
        print(f"  removed {counted(len(exported.removed), 'file')} of the earlier export that the post no longer uses")
    for name in exported.kept:
        print(f"  left alone (changed since it was exported, and no longer used): {site / name}")


def _newer(path: Path, than: Path) -> bool:
    try:
        return path.stat().st_mtime > than.stat().st_mtime
    except OSError:
        return False


def cmd_clean(args) -> int:
    from flows.upkeep import clean_output

    with stored_run(args.album, args.output, missing="nothing to compare the files with",
                    strict=True) as (out, manifest):
        if manifest.settings.output.store_dir:
            print(f"(The shared store {manifest.settings.output.store_dir} is left alone: other albums may use it.)")
        cleaning = clean_output(args.album, out, delete=args.yes)
    if not cleaning.unused:
        print(f"Nothing to clean in {out}.")
        return EXIT_OK
    if not cleaning.deleted:
        for path in cleaning.unused:
            print(f"  {path.relative_to(out)}  {human_size(path.stat().st_size)}")
        print(f"{counted(len(cleaning.unused), 'file')} ({human_size(cleaning.size)}) not used by the post; "
              "run again with --yes to delete them.")
        return EXIT_OK
    if cleaning.removed_photos:
        print(f"Post rewritten without {counted(len(cleaning.removed_photos), 'photo')} removed from the album.")
    print(f"Deleted {counted(len(cleaning.unused), 'file')} ({human_size(cleaning.size)}).")
    return EXIT_OK


def _list(title: str, items: list[str]) -> None:
    if items:
        print(f"{len(items)} {title}:")
        for item in items:
            print(f"  {item}")


# ---- serve: a scheduled deployment ----

def cmd_serve(args) -> int:
    hosting.quiet_logs(args.verbose)  # before Prefect loads: its settings read them
    from flows import serving

    if args.cron is not None:
        check_cron(args.cron)  # before the settings, the album and Prefect: the cheapest mistake to find
    deployment = serving.scheduled(args.album, args.cron, args.config, cli_overrides(args), say, every=args.every)
    when = f"on cron {args.cron!r}" if args.cron else f"every {args.every:g} s"
    say(f"Serving dream-album/{deployment.name} {when}: each run dreams the new photos of {args.album} "
        f"into {deployment.parameters['overrides']['output.dir']}. Ctrl-C stops it and pauses the schedule.")
    stopped_by = serving.serve(deployment, say)  # registers it, then runs each scheduled run until stopped
    if stopped_by is None:
        return EXIT_OK
    print(f"dreamtrip: serve stopped ({signal.Signals(stopped_by).name}); the schedule is paused", file=sys.stderr)
    return 128 + stopped_by


# ---- the rest ----

def cmd_layers(args) -> int:
    """What each layer dreams with the weights a run would use (they differ: see `weights`),
    measured where these weights were measured (bench/layer_scale.py)."""
    from pipeline.dream.download import wants_fetch
    from pipeline.dream.weights import WeightsError, choose_weights
    from pipeline.layers import MEASURED_AT

    settings = load_settings(args.config)
    try:
        choice = choose_weights(settings.weights.source)
    except WeightsError as err:
        raise UsageError(str(err)) from None
    row = choice.row
    print(f"With the weights a run would use here: {row.summary}")
    if row.measured:
        print(f"Measured on real photos dreamed at {MEASURED_AT} px (bench/layer_scale.py): the size of the "
              "patterns grown (px), the share of the change in forms over 16 px, the rise of colour (CIELAB "
              "chroma), the share of pixels with neon fringes, the change of brightness (RMS, of 255):")
    else:
        print(f"Not measured for {row.short} (its file was not on the machine that measured): the usual "
              "account of each depth, and how many px of the photo each point of the layer sees:")
    for name in LAYER_NAMES:
        print(f"{name}  {layer_line(name, choice.source)}")
    if wants_fetch(settings.weights):
        print(f"(A run first fetches {IMAGENET.short}, {IMAGENET.size_mb} MB, and dreams with it where a network "
              "answers: then `dreamtrip layers` describes its layers.)")
    return EXIT_OK


def cmd_weights(args) -> int:
    from pipeline.dream.download import fetch_imagenet, weights_for_run
    from pipeline.dream.weights import WeightsError, imagenet_path, prepare_features, upgrade_hint

    settings = load_settings(args.config)
    try:
        if args.download or args.origin:
            fetch_imagenet(args.origin, say=print)
        choice = weights_for_run(settings.weights, say=print, warn=warn)  # as a run would: may fetch
        prepare_features(choice, settings.weights.cache_path)  # verified once, features kept
    except WeightsError as err:
        raise UsageError(str(err)) from None
    print(f"{choice.description}\n  {choice.note}\n  why: {choice.reason}\n  file: {choice.path}")
    if hint := upgrade_hint(choice, settings.weights.download):
        print(f"{hint}\nOr copy {imagenet_path().name} to {imagenet_path()} (from a mirror or another machine).")
    return EXIT_OK


def cmd_settings(args) -> int:
    """The settings a run would use, as YAML, with what the strength preset sets filled in."""
    import yaml

    settings = load_settings(args.config)
    data, from_preset = settings.as_dict(), settings.dream.from_strength
    data["dream"].update(from_preset)
    if from_preset:
        print(f"# dream.{', dream.'.join(from_preset)}: set by strength {settings.dream.strength}")
    print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None), end="")
    return EXIT_OK


COMMANDS = {"run": cmd_run, "retry": cmd_retry, "blog": cmd_blog, "export": cmd_export, "clean": cmd_clean,
            "serve": cmd_serve, "layers": cmd_layers, "settings": cmd_settings, "weights": cmd_weights}


if __name__ == "__main__":
    sys.exit(main())
