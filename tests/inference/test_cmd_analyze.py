"""`spotscale analyze`: the three output files with the shared columns, the summary, one-line errors."""
from __future__ import annotations

import csv
import json

import cv2
import pytest

from spotscale.data.types import DISCLAIMER
from spotscale.inference.cli import main
from spotscale.inference.tables import SPOT_COLUMNS
from tests.inference.test_pipeline import DISCS, disc_photo


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    p = tmp_path_factory.mktemp("photo") / "arm.png"  # lossless: this tests the command, not JPEG noise
    cv2.imwrite(str(p), cv2.cvtColor(disc_photo(), cv2.COLOR_RGB2BGR))
    return p


def test_analyze_writes_overlay_csv_and_json(photo, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["analyze", str(photo), "--out", str(out), "--mm-per-px", "0.1", "--model", "none",
               "--debug-dir", str(tmp_path / "dbg")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "Scale: manual, 0.1000" in printed and DISCLAIMER in printed and "petechia 1" in printed
    assert "blur at the reference" not in printed  # measured on an ArUco marker only
    over = cv2.imread(str(out / "overlay.jpg"))
    assert over is not None and over.shape[1] == 800 and over.shape[0] > 600  # photo + header band
    with open(out / "spots.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
        assert tuple(rows[0].keys()) == SPOT_COLUMNS
    assert len(rows) == len(DISCS)
    assert sorted(r["label"] for r in rows) == ["borderline", "petechia", "purpura", "purpura"]
    assert all(r["image"] == "arm.png" for r in rows)
    res = json.loads((out / "result.json").read_text())
    assert res["scale"]["source"] == "manual" and res["scale"]["found"] is True
    assert res["scheme"]["name"] == "default" and res["scheme"]["source"]
    assert "spotscale" in res["software"] and res["disclaimer"] == DISCLAIMER
    assert len(res["spots"]) == len(DISCS) and res["width"] == 800
    for name in ("00_photo_reduced.jpg", "02_blood_channel.png", "03_reference.jpg", "09_final.jpg"):
        assert (tmp_path / "dbg" / name).is_file()


def test_scheme_flag_changes_labels(photo, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["analyze", str(photo), "--out", str(out), "--mm-per-px", "0.1", "--model", "none",
                 "--scheme", "medlineplus"]) == 0
    with open(out / "spots.csv", newline="") as fh:
        labels = sorted(r["label"] for r in csv.DictReader(fh))
    assert labels == ["petechia", "petechia", "purpura", "purpura"]  # 3 mm is a petechia there
    assert "medlineplus" in capsys.readouterr().out


@pytest.mark.parametrize("content, argv_extra, match", [
    (b"not an image at all", [], "bad.jpg"),
    (None, ["--mm-per-px", "-1"], "mm-per-px"),
    (None, ["--scheme", "nope"], "unknown threshold scheme"),
    (None, ["--sticker-mm", "15", "--sticker-colour", "plaid"], "unknown sticker colour 'plaid'"),
])
def test_bad_input_gives_one_line_and_exit_2(photo, tmp_path, capsys, content, argv_extra, match):
    target = photo
    if content is not None:
        target = tmp_path / "bad.jpg"
        target.write_bytes(content)
    rc = main(["analyze", str(target), "--out", str(tmp_path / "o"), "--model", "none", *argv_extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and match in err and "Traceback" not in err


def test_summary_reports_the_blur_measured_at_the_marker():
    from spotscale.data.types import PhotoResult, Scale
    from spotscale.inference.cmd_analyze import summary_lines
    res = PhotoResult("p.jpg", 10, 10, Scale(0.05, 0.0001, "aruco", blur_px=1.26), ())
    assert "Scale: aruco, 0.0500 +/- 0.0001 mm/px; blur at the reference 1.3 px" in summary_lines(res)


@pytest.mark.parametrize("dropped, text", [(0, "(total 0)"), (1, "(total 0; 1 faint blotch of skin texture left out)"),
                                           (3, "(total 0; 3 faint blotches of skin texture left out)")])
def test_summary_says_how_much_skin_texture_was_left_out(dropped, text):
    from spotscale.data.types import PhotoResult, Scale
    from spotscale.inference.cmd_analyze import summary_lines
    res = PhotoResult("p.jpg", 10, 10, Scale(None), (), summary={"counts": {}, "dropped_as_skin_texture": dropped})
    assert [line for line in summary_lines(res) if line.startswith("Spots:")][0].endswith(text)


@pytest.mark.parametrize("texture, fragments, specks, text", [
    (0, 1, 0, "(total 0; 1 fragment measured under half the smallest spot left out)"),
    (2, 3, 0, "(total 0; 2 faint blotches of skin texture left out; 3 fragments measured under half the smallest spot left out)"),
    (0, 0, 1, "(total 0; 1 speck hardly darker or redder than the skin (under the smallest spot, or lost in its "
              "texture) left out)"),
])
def test_summary_says_how_many_fragments_were_left_out(texture, fragments, specks, text):
    from spotscale.data.types import PhotoResult, Scale
    from spotscale.inference.cmd_analyze import summary_lines
    res = PhotoResult("p.jpg", 10, 10, Scale(None), (), summary={
        "counts": {}, "dropped_as_skin_texture": texture, "dropped_as_fragments": fragments,
        "dropped_as_specks": specks})
    assert [line for line in summary_lines(res) if line.startswith("Spots:")][0].endswith(text)


def test_summary_says_when_the_marker_or_sticker_is_partly_out_of_frame():
    from spotscale.data.types import PhotoResult, Scale
    from spotscale.inference.cmd_analyze import summary_lines
    from spotscale.inference.scale import PARTIAL_MARKER_NOTE
    cut = Scale(0.05, 0.0005, "aruco", reason=f"ArUco marker id 7 {PARTIAL_MARKER_NOTE} (2 of 4 corners in frame)")
    assert any("marker is partly out of frame" in line for line in summary_lines(PhotoResult("p.jpg", 10, 10, cut, ())))
    cut = Scale(0.05, 0.0005, "sticker", reason=f"round sticker 15 mm {PARTIAL_MARKER_NOTE} (300 px)")
    assert any("sticker is partly out of frame" in line for line in summary_lines(PhotoResult("p.jpg", 10, 10, cut, ())))
    whole = Scale(0.05, 0.0001, "aruco", reason="ArUco marker id 7 (20 mm, 400 px side)")
    assert not any("out of frame" in line for line in summary_lines(PhotoResult("p.jpg", 10, 10, whole, ())))


def test_sticker_colour_flag_lets_a_sticker_cut_by_the_border_set_the_scale(tmp_path, capsys):
    from tests.inference.test_scale import blur, skin, with_disc
    img = blur(with_disc(skin(800, 600), (770.0, 300.4), 95.0, (30, 90, 210)), 1.0)
    p = tmp_path / "cut.png"
    cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    argv = ["analyze", str(p), "--model", "none", "--sticker-mm", "15"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert "Scale: none found" in capsys.readouterr().out  # without its colour, a cut disc is not used
    assert main([*argv, "--sticker-colour", "blue", "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "Scale: sticker, 0.07" in out and "the sticker is partly out of frame" in out  # 15 / 190 px


def test_a_reader_that_stops_early_ends_the_command_quietly_with_its_files_written(photo, tmp_path):
    """`spotscale analyze x | head -1` where head has gone before the summary is printed."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "spotscale.inference.cli", "analyze", str(photo), "--out", str(out),
           "--mm-per-px", "0.1", "--model", "none"]
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(repo)))
    proc.stdout.close()  # the reader is gone long before the analysis is done
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err
    assert all((out / n).is_file() for n in ("spots.csv", "overlay.jpg", "result.json"))
