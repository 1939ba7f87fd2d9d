"""Batch scoring of a folder: crash-safe per-image results, resume, shards, worker processes, merge.

Durability: the main process alone writes into OUT. Every finished image becomes one small JSON
file `OUT/.parts/<sha1 of its relative path>.json`, written atomically (tmp + fsync + rename)
after its overlay; an image counts as done exactly when its part exists. `spots.csv`,
`images.csv`, `summary.json` and `report.html` are regenerated from the parts (at intervals and
at the end), also atomically, so a SIGKILL at any moment loses at most the images in flight and
`--resume` never duplicates a row.

Workers: photos are analysed in separate processes (spawn), the model loaded once per worker;
a worker that dies on a file (segfault, out of memory) becomes an error row for that file and is
replaced. `workers=0` analyses in the main process (no crash isolation; for debugging and tests).

Shards: `--shard K/N` with K in 1..N (1-based, like a Slurm array `--array=1-N`) keeps the files
whose stable hash (sha1 of the relative path) is K-1 modulo N; adding files to the folder never
moves an existing file to another shard.
"""
from __future__ import annotations

import csv
import dataclasses
import errno
import hashlib
import io
import json
import multiprocessing
import os
import platform
import resource
import shutil
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing.connection import wait as wait_connections
from pathlib import Path
from typing import Any, Callable, Iterable

from spotscale.data.errors import ConfigError, OutputError, PhotoError, SpotscaleError
from spotscale.data.photo import PHOTO_SUFFIXES, register_heif
from spotscale.data.types import DISCLAIMER, FINAL_LABELS, PhotoResult
from spotscale.inference.tables import IMAGE_COLUMNS, SPOT_COLUMNS, error_row, image_row, spot_rows

HEIC_SUFFIXES = frozenset({".heic", ".heif"})
PART_FORMAT = 1
PARTS_DIR = ".parts"
RUN_FILE = ".spotscale_run.json"
LOCK_FILE = ".spotscale.lock"
OWN_OUTPUTS = ("spots.csv", "images.csv", "summary.json", "report.html", "overlays", "thumbs",
               PARTS_DIR, RUN_FILE)


@dataclass
class BatchConfig:
    """How a batch run behaves (not how a photo is analysed: that is the engine's config)."""

    workers: int = 1  # processes; 0 = analyse in the main process
    resume: bool = False
    overwrite: bool = False
    shard: tuple[int, int] | None = None  # (k, n), k in 1..n
    overlays: bool = True
    overlay_px: int = 1600  # long side of the written overlays
    thumb_px: int = 240  # long side of the report thumbnails
    progress: bool = True
    flush_every_s: float = 30.0  # regenerate the CSVs this often during a run
    timeout_s: float | None = 900.0  # a photo analysed longer than this is stopped (error row)


@dataclass(frozen=True)
class Engine:
    """What a worker runs: picklable module-level functions plus the analysis config.

    analyze(path, config, net_bundle) -> PhotoResult, or (PhotoResult, the RGB image it analysed);
    load_model(config) -> (net_bundle, info dict); render(path, result, long_side_px[, image]) ->
    RGB uint8 overlay array or None (the image is passed when analyze returned one).
    """

    analyze: Callable[[Path, Any, Any], Any]
    load_model: Callable[[Any], tuple[Any, dict]]
    config: Any = None
    render: Callable[..., Any] | None = None


@dataclass(frozen=True)
class BatchSummary:
    """What a run did: counts, where it wrote, peak memory of each worker."""

    out_dir: Path
    n_selected: int
    n_done_before: int
    n_ok: int
    n_error: int
    seconds: float
    worker_peak_rss_mb: tuple[float, ...] = ()
    summary: dict = field(default_factory=dict, repr=False)


# ----------------------------------------------------------------------------- selecting files

def list_photos(root: str | os.PathLike, exclude: Iterable[str | os.PathLike] = ()) -> list[str]:
    """Relative POSIX paths of the photos under `root`, sorted; hidden entries and `exclude` skipped.

    Directory symlinks are not followed (no loops); broken file symlinks and directories named
    like photos are listed so that they become error rows instead of vanishing silently.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: input folder does not exist or is not a folder")
    skip = {os.path.realpath(p) for p in exclude}
    suffixes = PHOTO_SUFFIXES | HEIC_SUFFIXES
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        kept = []
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if d.startswith(".") or os.path.realpath(full) in skip:
                continue
            if Path(d).suffix.lower() in suffixes:
                found.append(os.path.relpath(full, root))  # a folder named x.png: an error row
            if not os.path.islink(full):
                kept.append(d)
        dirnames[:] = kept
        for f in filenames:
            if not f.startswith(".") and Path(f).suffix.lower() in suffixes:
                found.append(os.path.relpath(os.path.join(dirpath, f), root))
    return sorted(Path(p).as_posix() for p in found)


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' (K in 1..N) -> (K, N)."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected K/N with whole numbers, e.g. 1/4") from None
    if n < 1 or not 1 <= k <= n:
        raise ConfigError(f"--shard {text!r}: K must be in 1..N (1-based), e.g. 1/4 .. 4/4")
    return k, n


def _path_hash(rel: str) -> str:
    return hashlib.sha1(rel.encode("utf-8", "surrogateescape")).hexdigest()


def in_shard(rel: str, shard: tuple[int, int] | None) -> bool:
    """Whether the file with relative path `rel` belongs to shard (k, n)."""
    if shard is None:
        return True
    k, n = shard
    return int(_path_hash(rel)[:15], 16) % n == k - 1


def part_path(out: Path, rel: str) -> Path:
    """Where the crash-safe result of one image lives."""
    return out / PARTS_DIR / f"{_path_hash(rel)[:24]}.json"


# ----------------------------------------------------------------------------- writing safely

def _output_error(path: Path, e: OSError) -> OutputError:
    name = errno.errorcode.get(e.errno or 0, "")
    cause = e.strerror or str(e)
    return OutputError(f"cannot write {path}: {cause}{f' ({name})' if name else ''}; results "
                       "written before are intact, free space or fix permissions and rerun with --resume")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers only ever see the old or the whole new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_bytes(tmp, data)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise _output_error(path, e) from None


def _write_bytes(path: Path, data: bytes) -> None:
    """Write and fsync one file (the single place where bytes hit the disk)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _csv_bytes(columns: tuple[str, ...], rows: Iterable[dict]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buf.getvalue().encode("utf-8", "surrogateescape")


def write_tables(out: Path, parts: list[dict]) -> None:
    """spots.csv and images.csv from parts (already in output order)."""
    write_atomic(out / "images.csv", _csv_bytes(IMAGE_COLUMNS, (p["image_row"] for p in parts)))
    write_atomic(out / "spots.csv",
                 _csv_bytes(SPOT_COLUMNS, (r for p in parts for r in p["spot_rows"])))


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, ensure_ascii=True, default=str) + "\n").encode()


def load_part(out: Path, rel: str) -> dict | None:
    """The finished result of `rel` in `out`, or None if absent or unusable (then it is redone)."""
    p = part_path(out, rel)
    try:
        part = json.loads(p.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(part, dict) or part.get("format") != PART_FORMAT or part.get("image") != rel:
        return None
    for key in ("overlay", "thumb"):
        if part.get(key) and not (out / part[key]).is_file():
            return None
    return part


# ----------------------------------------------------------------------------- one photo (worker side)

@dataclass
class _WorkerState:
    engine: Engine
    bundle: Any
    info: dict
    overlay_px: int
    thumb_px: int
    overlays: bool
    one_thread: bool = False
    threads_set: bool = False


def _init_worker(engine: Engine, n_workers: int, bc: BatchConfig) -> _WorkerState:
    """Load the model once; with several workers keep each to one thread (no oversubscription)."""
    if n_workers > 1:
        try:
            import cv2
            cv2.setNumThreads(1)
        except ImportError:
            pass
    bundle, info = engine.load_model(engine.config)
    state = _WorkerState(engine, bundle, dict(info), bc.overlay_px, bc.thumb_px, bc.overlays,
                         one_thread=n_workers > 1)
    _limit_torch_threads(state)
    return state


def _limit_torch_threads(state: _WorkerState) -> None:
    """With several workers, torch gets one thread each (set as soon as torch has been imported)."""
    if state.one_thread and not state.threads_set and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
        state.threads_set = True


def _encode_jpeg(rgb: Any, long_side: int, quality: int = 85) -> bytes:
    import cv2
    h, w = rgb.shape[:2]
    f = long_side / max(h, w)
    if f < 1:
        rgb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else b""


def _error_text(rel: str, e: BaseException) -> str:
    if isinstance(e, PhotoError):
        text = f"{rel}: {e.cause}"
    elif isinstance(e, SpotscaleError):
        text = f"{rel}: {e}"
    elif isinstance(e, MemoryError):
        text = f"{rel}: out of memory while analysing"
    else:
        text = f"{rel}: internal error {type(e).__name__}: {e}"
    return " ".join(text.split())


def _source_stamp(path: Path) -> dict:
    try:
        st = path.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    except OSError:
        return {}


def process_one(state: _WorkerState, path: Path, rel: str) -> dict:
    """Analyse one photo; never raises for a bad photo: returns a part (plus overlay bytes)."""
    t0 = time.perf_counter()
    msg: dict = {"format": PART_FORMAT, "image": rel, "source": _source_stamp(path),
                 "overlay": "", "thumb": "", "timings": {}, "summary": {}}
    try:
        if path.suffix.lower() in HEIC_SUFFIXES and not register_heif():
            raise PhotoError(path, "HEIC not supported: install pillow-heif")
        result = state.engine.analyze(path, state.engine.config, state.bundle)
        _limit_torch_threads(state)
        image = None
        if isinstance(result, tuple):  # (result, the image it analysed): no second decode
            result, image = result
        if state.overlays and state.engine.render is not None:
            try:  # a drawing failure costs the overlay, never the analysis
                args = (path, result, state.overlay_px) + (() if image is None else (image,))
                rgb = state.engine.render(*args)
                if rgb is not None:
                    msg["overlay_bytes"] = _encode_jpeg(rgb, state.overlay_px)
                    msg["thumb_bytes"] = _encode_jpeg(rgb, state.thumb_px, quality=80)
            except Exception as e:  # noqa: BLE001
                msg.pop("overlay_bytes", None)
                msg["overlay_error"] = _error_text(path.name, e)
            del image
        seconds = time.perf_counter() - t0
        msg["image_row"] = image_row(rel, result, seconds)
        msg["spot_rows"] = spot_rows(rel, result)
        msg["timings"] = {k: float(v) for k, v in dict(result.timings).items()
                          if isinstance(v, (int, float))}
        msg["summary"] = _plain(result.summary)
    except (Exception, MemoryError) as e:  # one bad file never stops the batch
        msg.pop("overlay_bytes", None)
        msg.pop("thumb_bytes", None)
        msg["image_row"] = error_row(rel, _error_text(rel, e), time.perf_counter() - t0)
        msg["spot_rows"] = []
    msg["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return msg


def _plain(obj: Any) -> Any:
    """JSON-safe copy (numpy scalars, tuples, dataclasses)."""
    return json.loads(json.dumps(obj, default=_json_default))


def _json_default(o: Any) -> Any:
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def _worker_main(conn: Any, engine: Engine, n_workers: int, bc: BatchConfig) -> None:
    """Worker process: load the model once, then analyse one task at a time until told to stop."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    try:
        state = _init_worker(engine, n_workers, bc)
    except BaseException as e:  # noqa: BLE001 - reported to the parent as one line
        conn.send(("init_error", f"{type(e).__name__}: {e}" if not isinstance(e, SpotscaleError) else str(e)))
        return
    conn.send(("ready", state.info))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if task is None:
            return
        idx, path, rel = task
        msg = process_one(state, Path(path), rel)
        try:
            conn.send(("result", idx, msg))
        except (BrokenPipeError, OSError):
            return


# ----------------------------------------------------------------------------- worker pools (main side)

def _describe_exit(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        import signal
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{name}{', killed - possibly out of memory' if name == 'SIGKILL' else ''}"
    return f"exit code {code}"


def _crash_part(rel: str, path: Path, code: int | None, timeout_s: float | None = None) -> dict:
    if timeout_s is not None:
        text = f"{rel}: analysis stopped after the {timeout_s:g} s time limit; file skipped"
    else:
        text = f"{rel}: the analysis crashed its worker process ({_describe_exit(code)}); file skipped"
    return {"format": PART_FORMAT, "image": rel, "source": _source_stamp(path), "overlay": "",
            "thumb": "", "timings": {}, "summary": {}, "image_row": error_row(rel, text), "spot_rows": []}


OnResult = Callable[[int, dict], None]


class _InProcessPool:
    """workers=0: analyse in this process (no crash isolation)."""

    def __init__(self, engine: Engine, bc: BatchConfig):
        self.state = _init_worker(engine, 1, bc)
        self.infos = [self.state.info]
        self.peak_rss_kb: dict[int, int] = {}

    def run(self, tasks: list[tuple[int, str, str]], on_result: OnResult) -> None:
        for idx, path, rel in tasks:
            msg = process_one(self.state, Path(path), rel)
            self.peak_rss_kb[os.getpid()] = int(msg.pop("rss_kb", 0))
            on_result(idx, msg)

    def close(self) -> None:
        pass


@dataclass
class _Proc:
    proc: Any
    conn: Any
    ready: bool = False
    task: tuple[int, str, str] | None = None
    started: float = 0.0
    timed_out: bool = False


class _ProcessPool:
    """N spawned worker processes, one task each at a time; a dead worker's file becomes an error row."""

    def __init__(self, engine: Engine, n: int, bc: BatchConfig):
        self.engine, self.n, self.bc = engine, n, bc
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: list[_Proc] = []
        self.infos: list[dict] = []
        self.peak_rss_kb: dict[int, int] = {}
        self.start_failures = 0

    def _start(self) -> _Proc:
        parent, child = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(target=_worker_main, args=(child, self.engine, self.n, self.bc),
                                daemon=True, name="spotscale-worker")
        proc.start()
        child.close()
        w = _Proc(proc, parent)
        self.procs.append(w)
        return w

    def run(self, tasks: list[tuple[int, str, str]], on_result: OnResult) -> None:
        pending = deque(tasks)
        for _ in range(min(self.n, len(tasks))):
            self._start()
        while pending or any(w.task is not None for w in self.procs):
            for w in self.procs:
                if w.ready and w.task is None and pending:
                    w.task, w.started = pending.popleft(), time.monotonic()
                    try:
                        w.conn.send(w.task)
                    except OSError:
                        pass  # its death is seen below
            if not self.procs:
                break
            wait_connections([w.conn for w in self.procs] + [w.proc.sentinel for w in self.procs],
                             timeout=1.0 if self.bc.timeout_s else None)
            self._stop_overdue()
            for w in list(self.procs):
                if not self._service(w, on_result):
                    self._bury(w, on_result)
                    if pending:
                        self._start()

    def _stop_overdue(self) -> None:
        limit = self.bc.timeout_s
        for w in self.procs:
            if limit and w.task is not None and time.monotonic() - w.started > limit and not w.timed_out:
                w.timed_out = True
                w.proc.kill()

    def _service(self, w: _Proc, on_result: OnResult) -> bool:
        """Handle whatever `w` sent; False when it has died."""
        exited = w.proc.exitcode is not None
        try:
            while w.conn.poll():
                kind, *rest = w.conn.recv()
                if kind == "ready":
                    w.ready = True
                    self.infos.append(rest[0])
                elif kind == "init_error":
                    raise ConfigError(f"a worker could not start: {rest[0]}")
                elif kind == "result":
                    idx, msg = rest
                    w.task = None
                    self.peak_rss_kb[w.proc.pid] = int(msg.pop("rss_kb", 0))
                    on_result(idx, msg)
        except (EOFError, OSError):
            exited = True
        return not exited

    def _bury(self, w: _Proc, on_result: OnResult) -> None:
        w.proc.join(timeout=5)
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join()
        w.conn.close()
        self.procs.remove(w)
        if not w.ready:
            self.start_failures += 1
            if self.start_failures > self.n + 1:
                raise ConfigError(f"worker processes die while starting ({_describe_exit(w.proc.exitcode)})")
        if w.task is not None:
            idx, path, rel = w.task
            on_result(idx, _crash_part(rel, Path(path), w.proc.exitcode,
                                       self.bc.timeout_s if w.timed_out else None))

    def close(self) -> None:
        for w in self.procs:
            try:
                w.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 5
        for w in self.procs:
            w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
            w.conn.close()
        self.procs.clear()


# ----------------------------------------------------------------------------- the output folder

def _lock(out: Path) -> Any:
    import fcntl
    path = out / LOCK_FILE
    try:
        fh = open(path, "a")
    except OSError as e:
        raise _output_error(path, e) from None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise OutputError(f"{out}: another spotscale run is writing into this folder") from None
    return fh


def _prepare_out(out: Path, bc: BatchConfig, settings: dict) -> dict:
    """Create/lock OUT, apply the resume/overwrite rules; returns the run record."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _output_error(out, e) from None
    _remove_stale_tmp(out)
    entries = {p.name for p in out.iterdir()} - {LOCK_FILE}
    previous = None
    if (out / RUN_FILE).is_file():
        try:
            previous = json.loads((out / RUN_FILE).read_text())
        except (OSError, ValueError):
            previous = None
    if entries and bc.overwrite:
        for name in OWN_OUTPUTS:  # only spotscale's own files: a user's other files stay
            p = out / name
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                elif p.exists() or p.is_symlink():
                    p.unlink()
            except OSError as e:
                raise _output_error(p, e) from None
        previous = None
    elif entries and not bc.resume:
        raise ConfigError(f"{out}: output folder is not empty; pass --resume to continue the run "
                          "that wrote it, or --overwrite to replace spotscale's files in it")
    elif entries and bc.resume and previous is None:
        raise ConfigError(f"{out}: --resume: this folder holds no spotscale run "
                          f"({RUN_FILE} missing or unreadable); choose another --out")
    if previous is not None:
        for key in ("analysis", "shard", "overlays"):
            if _plain(previous.get("settings", {}).get(key)) != _plain(settings.get(key)):
                raise ConfigError(f"{out}: --resume with different settings ({key}: was "
                                  f"{previous.get('settings', {}).get(key)!r}, now {settings.get(key)!r}); "
                                  "use a new --out or --overwrite")
        record = dict(previous, settings=settings)
    else:
        record = {"format": PART_FORMAT, "started": _now(), "settings": settings}
    write_atomic(out / RUN_FILE, _json_bytes(record))
    return record


def _remove_stale_tmp(out: Path) -> None:
    """Half-written files of a killed run (we hold the lock, so nobody is writing them now)."""
    for d in (out, out / PARTS_DIR):
        for p in d.glob(".*.tmp") if d.is_dir() else ():
            try:
                p.unlink()
            except OSError:
                pass


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    found = {"python": platform.python_version()}
    for name in ("spotscale", "numpy", "opencv-python", "torch", "pillow"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def build_summary(parts: list[dict], n_selected: int, record: dict, model: dict,
                  complete: bool) -> dict:
    """summary.json: totals per label, ok/error counts, settings, versions, the disclaimer."""
    ok = [p for p in parts if p["image_row"].get("status") == "ok"]
    totals = {label: sum(int(p["image_row"].get(f"n_{label}") or 0) for p in ok) for label in FINAL_LABELS}
    settings = record.get("settings", {})
    analysis = settings.get("analysis") or {}
    scheme = analysis.get("scheme") if isinstance(analysis, dict) else None
    scheme_source = None
    for p in ok:
        if isinstance(p.get("summary"), dict) and p["summary"].get("scheme"):
            scheme, scheme_source = p["summary"]["scheme"], p["summary"].get("scheme_source")
            break
    return {
        "tool": "spotscale score", "disclaimer": DISCLAIMER, "complete": complete,
        "n_images": n_selected, "n_ok": len(ok), "n_error": len(parts) - len(ok),
        "n_pending": n_selected - len(parts), "n_spots": sum(totals.values()), "totals": totals,
        "scheme": scheme, "scheme_source": scheme_source, "model": model, "shard": settings.get("shard"),
        "input": settings.get("input"), "analysis": analysis, "versions": _versions(),
        "started": record.get("started"), "finished": _now() if complete else None,
        "errors": [p["image_row"]["error"] for p in parts if p["image_row"].get("status") != "ok"],
    }


def overlay_name(rel: str) -> str:
    """`<relative path>.jpg`, or a hashed file name where that would exceed the file-name limit."""
    head, _, base = rel.rpartition("/")
    if len(base.encode("utf-8", "surrogateescape")) > 200:
        base = f"{_path_hash(rel)[:24]}"
    return f"{head}/{base}.jpg" if head else f"{base}.jpg"


def _store(out: Path, rel: str, msg: dict) -> dict:
    """Write one image's overlay, thumbnail and then (last, atomically) its part."""
    overlay, thumb = msg.pop("overlay_bytes", b""), msg.pop("thumb_bytes", b"")
    name = overlay_name(rel)
    if overlay:
        msg["overlay"] = f"overlays/{name}"
        write_atomic(out / msg["overlay"], overlay)
    if thumb:
        msg["thumb"] = f"thumbs/{name}"
        write_atomic(out / msg["thumb"], thumb)
    write_atomic(part_path(out, rel), _json_bytes(msg))
    return msg


def finish_outputs(out: Path, parts: list[dict], n_selected: int, record: dict, model: dict,
                   complete: bool) -> dict:
    """Regenerate spots.csv, images.csv, report.html and summary.json from the parts."""
    from spotscale.inference.html_report import write_report
    write_tables(out, parts)
    summary = build_summary(parts, n_selected, record, model, complete)
    write_report(out, parts, summary)
    write_atomic(out / "summary.json", _json_bytes(summary))
    return summary


# ----------------------------------------------------------------------------- score and merge

def _still_valid(part: dict, path: Path) -> bool:
    """A stored part is reused unless its photo changed since (size or modification time)."""
    old, now = part.get("source") or {}, _source_stamp(path)
    return not (old and now and old != now)


def score_folder(root: str | os.PathLike, out: str | os.PathLike, engine: Engine,
                 bc: BatchConfig | None = None) -> BatchSummary:
    """Score every photo under `root` (or its shard) into `out`; resumable, crash-safe."""
    bc = bc or BatchConfig()
    if bc.workers < 0:
        raise ConfigError(f"--workers {bc.workers}: must be 0 or more")
    root, out = Path(root), Path(out)
    selected = [r for r in list_photos(root, exclude=[out]) if in_shard(r, bc.shard)]
    settings = {"input": str(root.resolve()), "shard": f"{bc.shard[0]}/{bc.shard[1]}" if bc.shard else None,
                "analysis": _plain(engine.config), "overlays": bc.overlays}
    t_start = time.perf_counter()
    lock = _lock_after_mkdir(out)
    try:
        record = _prepare_out(out, bc, settings)
        done: dict[str, dict] = {}
        for rel in selected:
            part = load_part(out, rel)
            if part is not None and _still_valid(part, root / rel):
                done[rel] = part
        n_before = len(done)
        todo = [(i, str(root / rel), rel) for i, rel in enumerate(selected) if rel not in done]
        pool, model = _run_pool(out, engine, bc, todo, done, selected, record)
        ordered = [done[r] for r in selected if r in done]
        summary = finish_outputs(out, ordered, len(selected), record, model, len(ordered) == len(selected))
        oks = sum(1 for p in ordered if p["image_row"].get("status") == "ok")
        return BatchSummary(out, len(selected), n_before, oks, len(ordered) - oks,
                            time.perf_counter() - t_start,
                            tuple(round(kb / 1024, 1) for kb in pool.peak_rss_kb.values()), summary)
    finally:
        lock.close()


def _lock_after_mkdir(out: Path) -> Any:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _output_error(out, e) from None
    return _lock(out)


def _run_pool(out: Path, engine: Engine, bc: BatchConfig, todo: list, done: dict, selected: list,
              record: dict) -> tuple[Any, dict]:
    """Analyse `todo`, storing each result as it arrives; CSVs refreshed every flush_every_s."""
    model = dict(record.get("model") or {})
    if not todo:
        return _NoPool(), model or {"name": "unknown (nothing analysed in this run)"}
    pool: Any = _InProcessPool(engine, bc) if bc.workers == 0 else _ProcessPool(engine, bc.workers, bc)
    bar = _progress(len(selected), len(selected) - len(todo), bc.progress)
    last_flush = [time.monotonic()]

    def on_result(idx: int, msg: dict) -> None:
        rel = selected[idx]
        done[rel] = _store(out, rel, msg)
        bar.update(1)
        if time.monotonic() - last_flush[0] > bc.flush_every_s:
            finish_outputs(out, [done[r] for r in selected if r in done], len(selected), record,
                           _plain(pool.infos[0]) if pool.infos else model, complete=False)
            last_flush[0] = time.monotonic()

    try:
        pool.run(todo, on_result)
    except KeyboardInterrupt:  # keep the tables in step with the parts before giving up
        pool.close()
        finish_outputs(out, [done[r] for r in selected if r in done], len(selected), record,
                       model, complete=False)
        raise
    finally:
        bar.close()
        pool.close()
    if pool.infos:
        model = _plain(pool.infos[0])
        if record.get("model") != model:
            record["model"] = model
            write_atomic(out / RUN_FILE, _json_bytes(record))
    return pool, model


class _NoPool:
    infos: list = []
    peak_rss_kb: dict = {}


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc="scoring", unit="photo", file=sys.stderr,
                disable=not enabled, dynamic_ncols=True)


def merge_outputs(inputs: list[str | os.PathLike], out: str | os.PathLike,
                  overwrite: bool = False) -> dict:
    """Join shard outputs into `out` so that it equals one run over all the shards' photos."""
    srcs, out = [Path(p) for p in inputs], Path(out)
    if not srcs:
        raise ConfigError("merge: give at least one shard output folder")
    records, parts, owner = [], {}, {}
    for src in srcs:
        if src.resolve() == out.resolve():
            raise ConfigError(f"{src}: merge output must differ from its inputs")
        rec, src_parts = _read_output(src)
        records.append(rec)
        for part in src_parts:
            rel = part["image"]
            if rel in parts:
                raise ConfigError(f"merge: {rel} is in both {owner[rel]} and {src} (overlapping shards "
                                  "or the same output given twice)")
            parts[rel], owner[rel] = (part, src), src
    _check_compatible(srcs, records)
    lock = _lock_after_mkdir(out)
    try:
        if {p.name for p in out.iterdir()} - {LOCK_FILE} and not overwrite:
            raise ConfigError(f"{out}: merge output folder is not empty (pass --overwrite to replace)")
        if overwrite:
            _prepare_out(out, BatchConfig(overwrite=True), {})
        settings = dict(records[0]["settings"], shard=None,
                        merged_from=[r["settings"].get("shard") for r in records])
        record = {"format": PART_FORMAT, "started": min(r.get("started") or "" for r in records),
                  "settings": settings, "model": records[0].get("model") or {}}
        write_atomic(out / RUN_FILE, _json_bytes(record))
        ordered = []
        for rel in sorted(parts):
            part, src = parts[rel]
            for key in ("overlay", "thumb"):
                if part.get(key):
                    write_atomic(out / part[key], (src / part[key]).read_bytes())
            write_atomic(part_path(out, rel), _json_bytes(part))
            ordered.append(part)
        n_selected = sum(int(r.get("n_selected", 0)) for r in records) or len(ordered)
        missing = _missing_shards(records)
        summary = finish_outputs(out, ordered, n_selected, record, record["model"],
                                 complete=all(r.get("complete") for r in records) and not missing)
        if missing:
            summary["missing_shards"] = missing
            write_atomic(out / "summary.json", _json_bytes(summary))
        return summary
    finally:
        lock.close()


def _read_output(src: Path) -> tuple[dict, list[dict]]:
    """The run record (with n_selected/complete from summary.json) and all parts of one output."""
    try:
        rec = json.loads((src / RUN_FILE).read_text())
    except (OSError, ValueError):
        raise ConfigError(f"{src}: not a spotscale score output ({RUN_FILE} missing or unreadable)") from None
    try:
        summary = json.loads((src / "summary.json").read_text())
        rec["n_selected"], rec["complete"] = summary.get("n_images", 0), bool(summary.get("complete"))
    except (OSError, ValueError):
        rec["complete"] = False
    listed = _listed_images(src / "images.csv")
    parts = []
    for p in sorted((src / PARTS_DIR).glob("*.json")):
        try:
            part = json.loads(p.read_bytes())
        except (OSError, ValueError):
            continue
        if not (isinstance(part, dict) and part.get("format") == PART_FORMAT
                and isinstance(part.get("image"), str) and p == part_path(src, part["image"])):
            continue
        if listed is None or part["image"] in listed:
            parts.append(part)
    return rec, parts


def _missing_shards(records: list[dict]) -> list[str]:
    """Shards K/N not among the inputs when all inputs are shards of the same N."""
    specs = [r.get("settings", {}).get("shard") for r in records]
    try:
        pairs = [tuple(int(v) for v in spec.split("/")) for spec in specs]
    except (AttributeError, ValueError):
        return []
    ns = {n for _, n in pairs}
    if len(ns) != 1:
        return []
    n = ns.pop()
    return [f"{k}/{n}" for k in range(1, n + 1) if k not in {k for k, _ in pairs}]


def _listed_images(images_csv: Path) -> set[str] | None:
    """The images of an output's images.csv (stale parts of since-deleted photos are left out)."""
    try:
        with open(images_csv, newline="", encoding="utf-8", errors="surrogateescape") as fh:
            return {row["image"] for row in csv.DictReader(fh)}
    except (OSError, KeyError, csv.Error):
        return None


def _check_compatible(srcs: list[Path], records: list[dict]) -> None:
    first = records[0].get("settings", {})
    for src, rec in zip(srcs[1:], records[1:]):
        s = rec.get("settings", {})
        for key in ("analysis", "overlays"):
            if _plain(s.get(key)) != _plain(first.get(key)):
                raise ConfigError(f"merge: {src} was scored with other settings than {srcs[0]} ({key})")
        if rec.get("model") and records[0].get("model") and rec["model"] != records[0]["model"]:
            raise ConfigError(f"merge: {src} was scored with another model than {srcs[0]}")


# ----------------------------------------------------------------------------- the real pipeline

def pipeline_analyze(path: Path, config: Any, net_bundle: Any) -> tuple[PhotoResult, Any]:
    """Engine.analyze for the real pipeline: the result and the image it decoded (for the overlay)."""
    from spotscale.inference.pipeline import analyze_photo_and_image
    return analyze_photo_and_image(path, config, net_bundle=net_bundle)


def pipeline_load_model(config: Any) -> tuple[Any, dict]:
    """Engine.load_model for the real pipeline: the default model, a checkpoint, or none."""
    from spotscale.inference.pipeline import load_model
    bundle = load_model(config)
    if bundle is None:
        return None, {"name": "none", "note": "no CNN: labels from size alone"}
    return bundle, model_info(bundle[1], getattr(config, "model_path", None))


def model_info(meta: dict, model_path: Any) -> dict:
    """The few facts about a model that summary.json and the report show."""
    info = {"path": "default" if model_path is None else str(model_path)}
    for key in ("version", "arch", "name", "created", "sha256"):
        v = meta.get(key) if isinstance(meta, dict) else None
        if isinstance(v, (str, int, float)):
            info[key] = v
    return info


def pipeline_render(path: Path, result: PhotoResult, long_side_px: int, image: Any = None) -> Any:
    """Engine.render for the real pipeline: the overlay on the analysed image, or a reduced decode.

    Without the image, the photo is decoded at the largest JPEG reduction (1, 2, 4, 8) still at
    least `long_side_px` on its long side, much cheaper than a second full decode.
    """
    from spotscale.data.photo import read_photo
    from spotscale.inference.overlay import draw_overlay
    if image is not None:
        return draw_overlay(image, result, max_side_px=long_side_px)
    reduce = 1
    while reduce < 8 and max(result.width, result.height) / (reduce * 2) >= long_side_px:
        reduce *= 2
    allowed = max(1, result.width * result.height)  # the analysis already accepted this size
    return draw_overlay(read_photo(path, allowed, reduce=reduce), result, max_side_px=long_side_px)


def pipeline_engine(config: Any) -> Engine:
    """The default engine: the real pipeline, default model or config.model_path, overlays."""
    return Engine(pipeline_analyze, pipeline_load_model, config, pipeline_render)
