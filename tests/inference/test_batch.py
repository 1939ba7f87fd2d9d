"""Batch scoring: file selection, shards, crash-safe parts, resume after SIGKILL, merge, faults."""
from __future__ import annotations

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from spotscale.data.errors import ConfigError
from spotscale.data.photo import read_photo
from spotscale.data.types import PhotoResult, Scale, Spot
from spotscale.inference import batch
from spotscale.inference.batch import BatchConfig, Engine, merge_outputs, score_folder
from spotscale.inference.tables import IMAGE_COLUMNS, SPOT_COLUMNS

REPO = Path(__file__).resolve().parents[2]
MM_PER_PX = 0.1


# ----------------------------------------------------------------------------- a fast fake pipeline

def fake_analyze(path: Path, config: dict, bundle: object) -> PhotoResult:
    """Dark blobs on a light photo become spots; sizes from a fixed 0.1 mm/px. Known by construction."""
    if config.get("sleep"):
        time.sleep(config["sleep"])
    if "segv" in path.name:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "oom" in path.name:
        raise MemoryError
    if "hang" in path.name:
        time.sleep(60)
    img = read_photo(path)
    dark = (img.mean(axis=2) < 100).astype(np.uint8)
    n, _, stats, cents = cv2.connectedComponentsWithStats(dark)
    spots = []
    for i in range(1, n):
        d_mm = 2 * np.sqrt(stats[i, cv2.CC_STAT_AREA] / np.pi) * MM_PER_PX
        label = "petechia" if d_mm < 2 else "borderline" if d_mm < 4 else "purpura" if d_mm <= 10 else "ecchymosis"
        x0, y0, w, h = (int(v) for v in stats[i, :4])
        spots.append(Spot(spot_id=i, x=float(cents[i][0]), y=float(cents[i][1]), bbox=(x0, y0, w, h),
                          area_px=float(stats[i, cv2.CC_STAT_AREA]), diameter_px=d_mm / MM_PER_PX,
                          diameter_mm=d_mm, size_class=label, label=label))
    h, w = img.shape[:2]
    return PhotoResult(path=str(path), width=w, height=h, scale=Scale(MM_PER_PX, 0.001, "manual"),
                       spots=tuple(spots), summary={"scheme": "fake"}, timings={"all": 0.001})


def fake_load_model(config: dict) -> tuple[None, dict]:
    return None, {"name": "fake", "version": "1"}


def fake_render(path: Path, result: PhotoResult, long_side_px: int) -> np.ndarray:
    return read_photo(path)


def fake_engine(args: object = None) -> Engine:
    """Used in-process and by the CLI's hidden --engine hook."""
    return Engine(fake_analyze, fake_load_model, {"sleep": float(os.environ.get("FAKE_SLEEP", "0"))},
                  fake_render)


def make_photo(path: Path, radii: list[int], size: tuple[int, int] = (160, 120)) -> None:
    """A light photo with dark disks of the given radii (px) in a row."""
    w, h = size
    img = np.full((h, w, 3), 210, np.uint8)
    for i, r in enumerate(radii):
        cv2.circle(img, (12 + 30 * i, h // 2), r, (40, 30, 120), -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def make_folder(root: Path, n: int = 8) -> list[str]:
    names = []
    for i in range(n):
        rel = f"{'sub/' if i % 3 == 0 else ''}p{i:02d}.{'png' if i % 2 else 'jpg'}"
        make_photo(root / rel, [2 + (i % 4)] * (1 + i % 3))
        names.append(rel)
    return sorted(names)


def read_csv(path: Path, drop: tuple[str, ...] = ("seconds",)) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [{k: v for k, v in r.items() if k not in drop} for r in reader]
        return list(reader.fieldnames or []), rows


def outputs_without_seconds(out: Path) -> tuple:
    return read_csv(out / "images.csv")[1], (out / "spots.csv").read_bytes()


def run_fake(root: Path, out: Path, **kw) -> batch.BatchSummary:
    return score_folder(root, out, fake_engine(), BatchConfig(workers=0, progress=False, **kw))


# ----------------------------------------------------------------------------- selection and shards

def test_list_photos_walks_sorted_skips_hidden_and_output(tmp_path):
    root = tmp_path / "in"
    for rel in ["b.JPG", "a/c.png", "a/d.TiFf", "x.webp", "y.bmp", "z.heic", ".hidden.jpg",
                ".cache/e.jpg", "out/overlays/b.JPG.jpg", "notes.txt"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    (root / "folder.png").mkdir()
    (root / "broken.jpg").symlink_to(root / "missing.jpg")
    (root / "a" / "loop").symlink_to(root)  # a loop, never followed
    got = batch.list_photos(root, exclude=[root / "out"])
    assert got == ["a/c.png", "a/d.TiFf", "b.JPG", "broken.jpg", "folder.png", "x.webp", "y.bmp", "z.heic"]


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "2", "1/2/3"])
def test_parse_shard_refuses_bad_specs(text):
    with pytest.raises(ConfigError, match="--shard"):
        batch.parse_shard(text)


def test_shards_partition_the_files_deterministically():
    rels = [f"d{i % 7}/photo {i}.jpg" for i in range(300)]
    shards = [[r for r in rels if batch.in_shard(r, (k, 4))] for k in range(1, 5)]
    assert sorted(sum(shards, [])) == sorted(rels)  # every file in exactly one shard
    assert all(40 < len(s) < 110 for s in shards)  # roughly a quarter each
    assert shards[1] == [r for r in rels if batch.in_shard(r, (2, 4))]  # same answer twice


# ----------------------------------------------------------------------------- scoring

def test_score_writes_tables_overlays_and_error_rows(tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    good = make_folder(root, 4)
    (root / "empty.jpg").write_bytes(b"")
    (root / "text.png").write_text("not an image")
    (root / "bad dir.png").mkdir()
    (root / "gone.jpg").symlink_to(root / "nowhere.jpg")
    (root / "loop1.jpg").symlink_to(root / "loop2.jpg")
    (root / "loop2.jpg").symlink_to(root / "loop1.jpg")
    bad = ["empty.jpg", "text.png", "bad dir.png", "gone.jpg", "loop1.jpg", "loop2.jpg"]
    res = run_fake(root, out)
    assert (res.n_ok, res.n_error) == (4, 6)
    cols, rows = read_csv(out / "images.csv", drop=())
    assert tuple(cols) == IMAGE_COLUMNS
    assert [r["image"] for r in rows] == sorted(good + bad)
    errors = {r["image"]: r["error"] for r in rows if r["status"] == "error"}
    assert set(errors) == set(bad)
    assert all(e.startswith(name + ": ") and "\n" not in e for name, e in errors.items())
    assert "empty" in errors["empty.jpg"] and "directory" in errors["bad dir.png"]
    spot_cols, spots = read_csv(out / "spots.csv", drop=())
    assert tuple(spot_cols) == SPOT_COLUMNS
    # p00: 1 disk, p01: 2, p02: 3, p03: 1 -> 7 spots; radius 2+i%4 px at 0.1 mm/px
    assert len(spots) == 7
    by_image = {r["image"]: int(r["n_spots"]) for r in rows if r["status"] == "ok"}
    assert by_image == {"sub/p00.jpg": 1, "p01.png": 2, "p02.jpg": 3, "sub/p03.png": 1}
    assert all((out / "overlays" / f"{g}.jpg").is_file() and (out / "thumbs" / f"{g}.jpg").is_file()
               for g in good)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_ok"] == 4 and summary["n_error"] == 6 and summary["complete"]
    assert sum(summary["totals"].values()) == 7 and summary["model"]["name"] == "fake"
    assert "not a diagnosis" in summary["disclaimer"]


def test_output_inside_input_is_never_scored(tmp_path):
    root = tmp_path / "in"
    make_folder(root, 3)
    out = root / "results"
    run_fake(root, out)
    res = run_fake(root, out, resume=True)
    assert res.n_selected == 3 and res.n_done_before == 3
    assert len(read_csv(out / "images.csv")[1]) == 3


def test_refuses_a_non_empty_output_without_resume(tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    make_folder(root, 2)
    run_fake(root, out)
    with pytest.raises(ConfigError, match="not empty.*--resume"):
        run_fake(root, out)
    res = run_fake(root, out, overwrite=True)
    assert res.n_done_before == 0 and res.n_ok == 2
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("keep")
    with pytest.raises(ConfigError, match="holds no spotscale run"):
        run_fake(root, tmp_path / "other", resume=True)


def test_resume_redoes_only_missing_parts_and_changed_photos(tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    names = make_folder(root, 6)
    run_fake(root, out)
    reference = outputs_without_seconds(out)
    batch.part_path(out, names[1]).unlink()
    batch.part_path(out, names[4]).write_text("{truncated")
    res = run_fake(root, out, resume=True)
    assert (res.n_done_before, res.n_ok) == (4, 6)
    assert outputs_without_seconds(out) == reference
    make_photo(root / names[0], [3, 3, 3, 3])  # the photo changed since: scored again
    res = run_fake(root, out, resume=True)
    assert res.n_done_before == 5
    assert int(read_csv(out / "images.csv")[1][0]["n_spots"]) == 4


def test_shards_then_merge_equal_one_run(tmp_path):
    root = tmp_path / "in"
    make_folder(root, 10)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    run_fake(root, tmp_path / "single")
    shard_outs = [tmp_path / f"s{k}" for k in (1, 2, 3)]
    for k, o in zip((1, 2, 3), shard_outs):
        run_fake(root, o, shard=(k, 3))
    summary = merge_outputs(shard_outs, tmp_path / "merged")
    assert summary["complete"] and summary["n_images"] == 11
    assert outputs_without_seconds(tmp_path / "merged") == outputs_without_seconds(tmp_path / "single")
    single = json.loads((tmp_path / "single" / "summary.json").read_text())
    assert summary["totals"] == single["totals"]
    with pytest.raises(ConfigError, match="in both"):
        merge_outputs([shard_outs[0], shard_outs[0]], tmp_path / "dup")


def test_merge_refuses_outputs_of_other_settings(tmp_path):
    root = tmp_path / "in"
    make_folder(root, 4)
    run_fake(root, tmp_path / "a", shard=(1, 2))
    score_folder(root, tmp_path / "b", Engine(fake_analyze, fake_load_model, {"sleep": 0, "x": 1}, fake_render),
                 BatchConfig(workers=0, progress=False, shard=(2, 2)))
    with pytest.raises(ConfigError, match="other settings"):
        merge_outputs([tmp_path / "a", tmp_path / "b"], tmp_path / "m")


def test_full_disk_keeps_earlier_results_intact(tmp_path, monkeypatch):
    root, out = tmp_path / "in", tmp_path / "out"
    make_folder(root, 4)
    run_fake(root, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != batch.LOCK_FILE}
    make_folder(root / "new", 3)
    real_write = batch._write_bytes
    calls = []

    def full_disk(path, data):
        calls.append(path)
        if len(calls) > 3:  # the first new image gets through, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(path, data)

    monkeypatch.setattr(batch, "_write_bytes", full_disk)
    with pytest.raises(batch.OutputError, match=r"No space left on device \(ENOSPC\).*--resume"):
        run_fake(root, out, resume=True)
    for p, data in before.items():
        if p.name != batch.RUN_FILE:
            assert p.read_bytes() == data, p
    assert not list(out.rglob("*.tmp"))  # no half-written leftovers
    monkeypatch.setattr(batch, "_write_bytes", real_write)
    res = run_fake(root, out, resume=True)
    assert res.n_ok == 7 and res.n_done_before >= 4


def test_read_only_output_is_one_clear_error(tmp_path, monkeypatch):
    root = tmp_path / "in"
    make_folder(root, 1)

    def read_only(path, data):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(batch, "_write_bytes", read_only)
    with pytest.raises(batch.OutputError, match="Read-only file system"):
        run_fake(root, tmp_path / "out")


def test_vanished_file_becomes_an_error_row(tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    names = make_folder(root, 3)

    def vanishing(path, config, bundle):
        if path.name == Path(names[1]).name:
            path.unlink()
        return fake_analyze(path, config, bundle)

    score_folder(root, out, Engine(vanishing, fake_load_model, {}, fake_render),
                 BatchConfig(workers=0, progress=False))
    rows = read_csv(out / "images.csv")[1]
    err = [r for r in rows if r["status"] == "error"]
    assert len(err) == 1 and err[0]["image"] == names[1] and "no such file" in err[0]["error"]


def test_worker_crashes_become_error_rows(tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    names = make_folder(root, 4)
    make_photo(root / "segv.png", [3])
    make_photo(root / "oom.png", [3])
    make_photo(root / "hang.png", [3])
    res = score_folder(root, out, fake_engine(), BatchConfig(workers=2, progress=False, timeout_s=3))
    assert (res.n_ok, res.n_error) == (4, 3)
    rows = {r["image"]: r for r in read_csv(out / "images.csv")[1]}
    assert "SIGSEGV" in rows["segv.png"]["error"] and "out of memory" in rows["oom.png"]["error"]
    assert "3 s time limit" in rows["hang.png"]["error"]
    assert all(rows[n]["status"] == "ok" for n in names)
    assert len(res.worker_peak_rss_mb) >= 2 and all(m > 10 for m in res.worker_peak_rss_mb)


# ----------------------------------------------------------------------------- a real SIGKILL

def _cli(root: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), FAKE_SLEEP="0.15")
    cmd = [sys.executable, "-m", "spotscale.inference.cli", "score", str(root), "--out", str(out),
           "--engine", "tests.inference.test_batch:fake_engine", "--no-progress", *extra]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


@pytest.mark.parametrize("kill_after_parts,workers", [(0, "0"), (3, "0"), (4, "2")])
def test_resume_after_sigkill_gives_the_rows_of_an_uninterrupted_run(tmp_path, kill_after_parts, workers):
    root = tmp_path / "in"
    make_folder(root, 10)
    reference = tmp_path / "ref"
    run_fake(root, reference)
    out = tmp_path / "out"
    proc = _cli(root, out, "--workers", workers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / batch.PARTS_DIR).glob("*.json"))) >= kill_after_parts:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if kill_after_parts == 0:  # as if killed while writing its first file
        out.mkdir(exist_ok=True)
        (out / f".{batch.RUN_FILE}.123.tmp").write_text('{"half')
    done_at_kill = len(list((out / batch.PARTS_DIR).glob("*.json")))
    assert done_at_kill < 10, "the run finished before it could be killed"
    resumed = _cli(root, out, "--workers", workers, "--resume")
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()
    assert outputs_without_seconds(out) == outputs_without_seconds(reference)


@pytest.mark.parametrize("flags,says", [
    (["--shard", "5/2"], "--shard"), (["--mm-per-px", "-1"], "--mm-per-px"),
    (["--mm-per-px", "nan"], "--mm-per-px"), (["--mm-per-px", "0"], "--mm-per-px"),
    (["--workers", "-1"], "--workers"), (["--scheme", "no-such-scheme"], "no-such-scheme"),
    (["--config", "/nonexistent/a.toml"], "a.toml"), (["--max-pixels", "0"], "--max-pixels"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, flags, says):
    from spotscale.inference import cli
    root = tmp_path / "in"
    make_folder(root, 1)
    code = cli.main(["score", str(root), "--out", str(tmp_path / "o"), "--no-progress", *flags])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().count("\n") == 0 and says in err


def test_merge_of_some_shards_says_which_are_missing(tmp_path):
    root = tmp_path / "in"
    make_folder(root, 6)
    run_fake(root, tmp_path / "s1", shard=(1, 3))
    run_fake(root, tmp_path / "s3", shard=(3, 3))
    summary = merge_outputs([tmp_path / "s1", tmp_path / "s3"], tmp_path / "m")
    assert summary["missing_shards"] == ["2/3"] and not summary["complete"]


def test_overlay_names_keep_the_relative_path_and_stay_short():
    assert batch.overlay_name("a/b c.png") == "a/b c.png.jpg"
    long = batch.overlay_name("d/" + "x" * 250 + ".jpg")
    assert long.startswith("d/") and len(long) < 40


def failing_load_model(config: dict) -> tuple[None, dict]:
    from spotscale.data.errors import CheckpointError
    raise CheckpointError("bad.pt", "truncated weights file")


def test_a_model_that_cannot_load_stops_the_run_with_one_line(tmp_path):
    root = tmp_path / "in"
    make_folder(root, 2)
    engine = Engine(fake_analyze, failing_load_model, {}, fake_render)
    with pytest.raises(ConfigError, match="could not start: bad.pt: truncated weights file"):
        score_folder(root, tmp_path / "out", engine, BatchConfig(workers=1, progress=False))


def test_heic_without_pillow_heif_is_an_error_row_not_skipped(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import fails, as when not installed
    monkeypatch.delitem(Image.OPEN, "HEIF", raising=False)
    root = tmp_path / "in"
    make_folder(root, 1)
    (root / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    run_fake(root, tmp_path / "out")
    rows = {r["image"]: r for r in read_csv(tmp_path / "out" / "images.csv")[1]}
    assert rows["IMG_0001.HEIC"]["error"] == "IMG_0001.HEIC: HEIC not supported: install pillow-heif"


# ----------------------------------------------------------------------------- the real pipeline

@pytest.fixture(scope="session")
def generated_folder(tmp_path_factory) -> Path:
    """Three small generated photos (known spots, a reference) in a nested folder."""
    from spotscale.data.synth import render_photo
    root = tmp_path_factory.mktemp("generated") / "photos"
    for i, (rel, scale) in enumerate([("a.jpg", "aruco"), ("sub/b.png", "sticker"), ("sub/c d.jpg", "ruler")]):
        photo = render_photo(500 + i, size=(320, 240), scale=scale)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), cv2.cvtColor(photo.image, cv2.COLOR_RGB2BGR))
    (root / "sub" / "truncated.jpg").write_bytes((root / "a.jpg").read_bytes()[:2000])
    grey = cv2.cvtColor(cv2.imread(str(root / "a.jpg")), cv2.COLOR_BGR2GRAY)  # spots, marker, no colour
    cv2.imwrite(str(root / "sub" / "grey.png"), grey)
    return root


def real_reference(folder: Path, out: Path) -> Path:
    """An uninterrupted in-process run of the real pipeline without a CNN.

    Made inside each test, next to the run it is compared with, so that the two always run the
    same code (the package is installed editable).
    """
    from spotscale.inference.pipeline import AnalysisConfig
    score_folder(folder, out, batch.pipeline_engine(AnalysisConfig(model_path="none")),
                 BatchConfig(workers=0, progress=False))
    return out


def test_real_pipeline_rows_do_not_depend_on_the_number_of_workers(generated_folder, tmp_path):
    from spotscale.inference.pipeline import AnalysisConfig
    reference = real_reference(generated_folder, tmp_path / "ref")
    res = score_folder(generated_folder, tmp_path / "w2", batch.pipeline_engine(AnalysisConfig(model_path="none")),
                       BatchConfig(workers=2, progress=False))
    assert (res.n_ok, res.n_error) == (3, 2)
    assert outputs_without_seconds(tmp_path / "w2") == outputs_without_seconds(reference)
    rows = {r["image"]: r for r in read_csv(reference / "images.csv")[1]}
    assert "truncated" in rows["sub/truncated.jpg"]["error"]
    assert "no colour" in rows["sub/grey.png"]["error"]  # not 'ok' with no spots, which would mislead
    assert sum(int(r["n_spots"] or 0) for r in rows.values()) > 0  # the generator drew spots
    assert (reference / "overlays" / "sub" / "c d.jpg.jpg").is_file()


def test_real_pipeline_scores_an_iphone_heic_in_a_worker(tmp_path):
    # the worker registers pillow-heif itself, on the file's header; the photo is stored rotated
    from spotscale.data.photo import register_heif
    from spotscale.data.synth import render_photo
    from spotscale.inference.pipeline import AnalysisConfig
    assert register_heif()  # so that Pillow can write one here
    root = tmp_path / "in"
    root.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = np.ascontiguousarray(np.rot90(render_photo(500, size=(640, 480), scale="aruco").image, 1))
    Image.fromarray(stored).save(root / "IMG_0001.HEIC", exif=exif.tobytes(), quality=95)
    res = score_folder(root, tmp_path / "out", batch.pipeline_engine(AnalysisConfig(model_path="none")),
                       BatchConfig(workers=2, progress=False))
    row = read_csv(tmp_path / "out" / "images.csv")[1][0]
    assert (res.n_ok, row["status"], row["width"], row["height"]) == (1, "ok", "640", "480")
    assert row["scale_source"] == "aruco" and int(row["n_spots"]) > 0


def test_real_pipeline_resume_after_sigkill(generated_folder, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "spotscale.inference.cli", "score", str(generated_folder), "--out", str(out),
           "--model", "none", "--no-progress", "--workers", "0"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if list((out / batch.PARTS_DIR).glob("*.json")):
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    r = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    reference = real_reference(generated_folder, tmp_path / "ref")
    assert read_csv(out / "images.csv")[1] == read_csv(reference / "images.csv")[1]
    assert read_csv(out / "spots.csv")[1] == read_csv(reference / "spots.csv")[1]


def test_an_empty_folder_gives_header_only_tables_and_a_missing_one_an_error(tmp_path):
    (tmp_path / "in").mkdir()
    res = run_fake(tmp_path / "in", tmp_path / "out")
    assert (res.n_selected, res.n_ok, res.n_error) == (0, 0, 0)
    assert (tmp_path / "out" / "images.csv").read_text() == ",".join(IMAGE_COLUMNS) + "\n"
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["complete"]
    with pytest.raises(ConfigError, match="does not exist"):
        run_fake(tmp_path / "nope", tmp_path / "out2")


def broken_render(path: Path, result: PhotoResult, long_side_px: int) -> np.ndarray:
    raise ValueError("cannot draw")


def test_an_overlay_that_cannot_be_drawn_keeps_the_analysis(tmp_path):
    root = tmp_path / "in"
    make_folder(root, 2)
    res = score_folder(root, tmp_path / "out", Engine(fake_analyze, fake_load_model, {}, broken_render),
                       BatchConfig(workers=0, progress=False))
    assert (res.n_ok, res.n_error) == (2, 0)
    assert not (tmp_path / "out" / "overlays").exists()


def test_score_takes_the_reference_flags_of_analyze(tmp_path):
    from spotscale.inference.cli import build_parser
    from spotscale.inference.cmd_score import analysis_config
    parser, _ = build_parser()
    args = parser.parse_args(["score", str(tmp_path), "--out", str(tmp_path / "o"), "--marker-mm", "15",
                              "--sticker-mm", "18", "--sticker-colour", "blue", "--dpi", "300"])
    sc = analysis_config(args).scale
    assert (sc.marker_side_mm, sc.sticker_diameter_mm, sc.sticker_color, sc.dpi) == (15.0, 18.0, "blue", 300.0)
