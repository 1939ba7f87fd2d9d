"""The command line: every subcommand is registered and errors become one line."""
from __future__ import annotations

import pytest

from spotscale.inference import cli


def test_every_subcommand_is_registered():
    _, commands = cli.build_parser()
    assert set(cli.ORDER) <= set(commands)


def test_unknown_subcommand_exits_with_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["no-such-command"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
