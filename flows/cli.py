"""dreamtrip's command line: `dreamtrip run ALBUM`, `dreamtrip layers`, `dreamtrip weights`.

Exit codes: 0 every (photo, layer) dreamed; 1 some failed (the page lists them);
2 a usage, config or set-up error (nothing was dreamed).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipeline.album import load_album_text
from pipeline.config import ConfigError, load_settings
from pipeline.layers import LAYER_NAMES, layer_hint

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
Turn a trip's photo album into a travel-blog post where every photo stands beside
its DeepDream variants (VGG16). Writes index.html, post.md and manifest.json."""

EPILOG = """\
examples:
  dreamtrip run ~/trips/prague                      dream with config/default.yaml
  dreamtrip run data/sample-album -c config/demo.yaml
  dreamtrip run ~/trips/prague --layers conv4_2 conv5_2 --device cuda -o site/prague
  dreamtrip layers                                  what each VGG16 layer dreams

Settings are documented in config/default.yaml; album.yaml in the album folder holds
the title, intro and per-photo story text and layer overrides."""


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
    except KeyboardInterrupt:
        print("\ndreamtrip: interrupted; finished dreams are kept, rerun to continue", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dreamtrip", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="dream an album and write its blog post",
                              description="Dream every photo of ALBUM and write the post.")
    run.add_argument("album", metavar="ALBUM", type=Path, help="folder of photos (sub-folders too)")
    run.add_argument("-c", "--config", type=Path, help="YAML settings over config/default.yaml")
    run.add_argument("-o", "--output", type=Path, help="output folder (default: out/<album name>)")
    run.add_argument("--layers", nargs="+", metavar="LAYER",
                     help="layers to dream on, e.g. conv3_1 conv5_2 (see `dreamtrip layers`)")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to dream")
    run.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs")
    run.set_defaults(handler=cmd_run)

    layers = commands.add_parser("layers", help="list VGG16 layers and what they dream")
    layers.set_defaults(handler=cmd_layers)

    weights = commands.add_parser("weights", help="find and prepare the VGG16 weights")
    weights.add_argument("-c", "--config", type=Path, help="YAML settings over config/default.yaml")
    weights.set_defaults(handler=cmd_weights)
    return parser


def cli_overrides(args) -> dict:
    overrides = {}
    if args.layers:
        overrides["layers"] = [name for item in args.layers for name in item.split(",") if name]
    if args.device:
        overrides["device"] = args.device
    if args.output:
        overrides["output.dir"] = str(args.output)
    return overrides


def cmd_run(args) -> int:
    overrides = cli_overrides(args)
    load_settings(args.config, overrides)  # fail fast, before Prefect starts its server
    if not args.album.is_dir():
        print(f"dreamtrip: {args.album}: no such album folder", file=sys.stderr)
        return EXIT_USAGE
    load_album_text(args.album)  # a mistake in album.yaml, too, stops the run before any work
    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from flows.dream_album import dream_album  # Prefect and torch load only for a real run
    from pipeline.dream import DeviceError
    from pipeline.manifest import failures
    from pipeline.weights import WeightsError

    try:
        manifest = dream_album(str(args.album), str(args.config) if args.config else None, overrides)
    except (WeightsError, DeviceError) as err:
        print(f"dreamtrip: {err}", file=sys.stderr)
        return EXIT_USAGE
    print_summary(manifest, failures(manifest))
    return EXIT_SOME_FAILED if failures(manifest) else EXIT_OK


def print_summary(manifest: dict, failed: list[str]) -> None:
    photos = manifest["photos"]
    dreams = [d for p in photos for d in p["dreams"]]
    ok = [d for d in dreams if d["status"] == "ok"]
    weights = manifest["weights"]
    print(f"Weights: {weights['description']}: {weights['note']} ({weights['reason']})")
    print(f"{len(photos)} photos, {len(ok)} of {len(dreams)} dreams ok"
          + (f", {len(manifest['skipped'])} files skipped (not photos)" if manifest["skipped"] else ""))
    for line in failed:
        print(f"  failed: {line}")
    print(f"Page: {manifest['page']}")


def cmd_layers(args) -> int:
    for name in LAYER_NAMES:
        print(f"{name}  {layer_hint(name)}")
    return EXIT_OK


def cmd_weights(args) -> int:
    from pipeline.weights import WeightsError, choose_weights, load_features_state

    settings = load_settings(args.config)
    try:
        choice = choose_weights(settings.weights_source)
        load_features_state(choice, settings.weights_cache_dir)  # converts and caches HED once
    except WeightsError as err:
        print(f"dreamtrip: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{choice.description}\n  {choice.note}\n  why: {choice.reason}\n  file: {choice.path}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
