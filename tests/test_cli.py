"""The command line's parsing: what a user types and what it means (no run is started)."""

import pytest

from flows.arguments import build_parser, cli_overrides, joined_layer_lists
from flows.cli import main


def _parsed(*argv):
    return build_parser().parse_args(joined_layer_lists(list(argv)))


BOTH = ["conv4_2", "conv5_2"]


@pytest.mark.parametrize("argv, layers", [
    (["run", "--layers", "conv4_2", "trip"], ["conv4_2"]),
    (["run", "--layers", "conv4_2,conv5_2", "trip"], BOTH),
    (["run", "--layers", "conv4_2", "conv5_2", "trip"], BOTH),   # the old space form, before the album
    (["run", "trip", "--layers", "conv4_2", "conv5_2"], BOTH),   # ... and after it
    (["run", "--layers=conv4_2", "conv5_2", "trip"], BOTH),
    (["run", "--layers", "conv4_2", "--layers", "conv5_2", "trip"], BOTH),
    (["serve", "--layers", "conv4_2,", "conv5_2", "trip", "--cron", "0 3 * * *"], BOTH),
])
def test_layers_before_or_after_the_album_leave_the_album_alone(argv, layers):
    args = _parsed(*argv)
    assert str(args.album) == "trip"
    assert cli_overrides(args)["layers"] == layers


def test_options_after_the_layers_still_count():
    args = _parsed("run", "--layers", "conv4_2", "conv5_2", "trip", "-o", "site", "--device", "cpu")
    assert (str(args.album), str(args.output), args.device) == ("trip", "site", "cpu")
    assert cli_overrides(args)["layers"] == ["conv4_2", "conv5_2"]


def test_a_missing_album_is_named(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["run", "--layers", "conv4_2,conv5_2"])
    assert stop.value.code == 2
    assert "the following arguments are required: ALBUM" in capsys.readouterr().err


def test_the_album_after_layers_is_the_one_checked(tmp_path, capsys):
    """End to end up to the first check: the album named after --layers is the one looked at."""
    missing = tmp_path / "no-such-trip"
    assert main(["run", "--layers", "conv4_2", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"dreamtrip: {missing}: no such album folder"


def test_an_unknown_layer_before_the_album_is_a_config_error(tmp_path, capsys):
    assert main(["run", "--layers", "conv9_9", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "conv9_9" in err and len(err.strip().splitlines()) == 1
