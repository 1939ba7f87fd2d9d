"""Analyse one photo: print a summary, write overlay.jpg, spots.csv and result.json."""
from __future__ import annotations

import argparse
import csv
import io
import os
import tempfile
from pathlib import Path

from spotscale.data.errors import ConfigError
from spotscale.data.types import DISCLAIMER, FINAL_LABELS, PhotoResult
from spotscale.inference.scale import PARTIAL_MARKER_NOTE

OVERLAY_MAX_SIDE_PX = 4000  # larger photos get a downscaled overlay (said in the summary)


def add_reference_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that say what reference scale the photos hold (analyze and score share them)."""
    parser.add_argument("--mm-per-px", type=float, help="known scale in mm per pixel (skips reference detection)")
    parser.add_argument("--dpi", type=float, help="known resolution in dots per inch (flatbed scans)")
    parser.add_argument("--marker-mm", type=float, help="side of the ArUco marker in mm (default 20)")
    parser.add_argument("--sticker-mm", type=float, help="diameter of the round sticker or coin in mm")
    parser.add_argument("--sticker-colour", help="its colour: a name (blue, red, white, black, silver...) or "
                        "#rrggbb; needed for a sticker partly out of frame")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photo", type=Path, help="the photo (JPEG, PNG, TIFF, WebP, BMP, AVIF, HEIC/HEIF)")
    parser.add_argument("--out", type=Path, help="output folder (default ./spotscale_out/<photo stem>)")
    add_reference_arguments(parser)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--scheme", help="threshold scheme: default, medlineplus, itp-bat")
    group.add_argument("--scheme-file", type=Path, help="your own threshold scheme (TOML/JSON)")
    parser.add_argument("--model", help="checkpoint path, or 'none' for no CNN (default: the shipped model)")
    parser.add_argument("--config", type=Path, help="analysis settings (TOML); flags override it")
    parser.add_argument("--debug-dir", type=Path, help="write an image of every step here")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_spots_csv(result: PhotoResult, path: Path, image: str) -> None:
    """spots.csv of one photo, in the shared column format."""
    from spotscale.inference.tables import SPOT_COLUMNS, spot_rows
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(SPOT_COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(spot_rows(image, result))
    _write_atomic(path, buf.getvalue().encode("utf-8"))


def write_overlay(image_rgb, result: PhotoResult, path: Path) -> bool:
    """overlay.jpg; returns True if it was drawn downscaled."""
    import cv2
    from spotscale.inference.overlay import draw_overlay
    over = draw_overlay(image_rgb, result, max_side_px=OVERLAY_MAX_SIDE_PX)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(over, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ConfigError(f"{path}: could not encode the overlay")
    _write_atomic(path, buf.tobytes())
    return over.shape[1] < result.width  # the header band adds rows, never columns


def _texture_note(n: int) -> str:
    return f"{n} faint blotch{'' if n == 1 else 'es'} of skin texture left out"


def _fragment_note(n: int) -> str:
    return f"{n} fragment{'' if n == 1 else 's'} measured under half the smallest spot left out"


def _speck_note(n: int) -> str:
    return (f"{n} speck{'' if n == 1 else 's'} hardly darker or redder than the skin (under the smallest spot, "
            "or lost in its texture) left out")


def summary_lines(result: PhotoResult) -> list[str]:
    """The short text summary printed by `spotscale analyze`."""
    sc = result.scale
    lines = [f"{result.path}: {result.width} x {result.height} px"]
    if sc.found:
        unc = f" +/- {sc.mm_per_px_uncertainty:.4f}" if sc.mm_per_px_uncertainty else ""
        lines.append(f"Scale: {sc.source}, {sc.mm_per_px:.4f}{unc} mm/px"
                     + (f" ({sc.n_references} references)" if sc.n_references > 1 else "")
                     + (f"; blur at the reference {sc.blur_px:.1f} px" if sc.blur_px else "")
                     + (f"; the {'marker' if sc.source == 'aruco' else sc.source} is partly out of frame: "
                        "the scale of its part in frame" if PARTIAL_MARKER_NOTE in (sc.reason or "") else ""))
    else:
        lines.append(f"Scale: none found ({sc.reason or 'no reference'}); sizes in mm are not available, "
                     "labels come from the CNN (and the photo's own petechiae as a size reference)")
    s = result.summary
    if s.get("camera_blur_from") == "photo_edges":
        lines.append(f"Blur: {s['camera_blur_px']:.1f} px (gaussian sigma), read on the photo's sharpest edges "
                     "(none measured at a reference)")
    counts = s.get("counts", {})
    lines.append("Spots: " + ", ".join(f"{lab} {counts.get(lab, 0)}" for lab in FINAL_LABELS)
                 + f" (total {len(result.spots)}"
                 + (f"; {_texture_note(s['dropped_as_skin_texture'])}" if s.get("dropped_as_skin_texture") else "")
                 + (f"; {_fragment_note(s['dropped_as_fragments'])}" if s.get("dropped_as_fragments") else "")
                 + (f"; {_speck_note(s['dropped_as_specks'])}" if s.get("dropped_as_specks") else "")
                 + ")")
    if s.get("petechiae_per_6_25cm2") is not None:
        lines.append(f"Petechiae per 6.25 cm2: {s['petechiae_per_6_25cm2']:.2f} over {s.get('skin_area_cm2', 0):.1f} "
                     f"cm2 of skin; densest 2.5 x 2.5 cm window: {s.get('max_petechiae_6_25cm2')}")
    if s.get("bruises_over_3cm"):
        lines.append(f"Bruises over 3 cm: {s['bruises_over_3cm']}")
    lines.append(f"Scheme: {s.get('scheme')} ({s.get('scheme_source')})")
    model = s.get("model") or {}
    desc = model.get("path") or model.get("name") or "default"
    if model.get("version"):
        desc += f" (version {model['version']})"
    lines.append(f"Model: {desc}" + (f": {model['note']}" if model.get("note") else ""))
    t = result.timings
    if t:
        lines.append(f"Time: {t.get('total', sum(t.values())):.2f} s ("
                     + ", ".join(f"{k} {v:.2f}" for k, v in t.items() if k != "total") + ")")
    flagged = [sp for sp in result.spots if sp.flags]
    if flagged:
        lines.append(f"Flags ({len(flagged)} spots):")
        for sp in flagged[:10]:
            lines.append(f"  #{sp.spot_id} {sp.label}: {', '.join(sp.flags)}")
        if len(flagged) > 10:
            lines.append(f"  ... {len(flagged) - 10} more in spots.csv")
    for note in result.notes:
        if note != DISCLAIMER:
            lines.append(note)
    lines.append(DISCLAIMER)
    return lines


def run(args: argparse.Namespace) -> int:
    from spotscale.inference.overlay import write_result_json
    from spotscale.inference.pipeline import analyze_photo_and_image, config_from_args
    config = config_from_args(args)
    out = args.out if args.out is not None else Path("spotscale_out") / args.photo.stem
    result, image = analyze_photo_and_image(args.photo, config, debug_dir=args.debug_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
    write_spots_csv(result, out / "spots.csv", args.photo.name)
    downscaled = write_overlay(image, result, out / "overlay.jpg")
    del image
    write_result_json(result, out / "result.json")
    for line in summary_lines(result):
        print(line)
    print(f"Wrote {out / 'overlay.jpg'}" + (" (downscaled)" if downscaled else "")
          + f", {out / 'spots.csv'}, {out / 'result.json'}")
    return 0


__all__ = ["add_arguments", "run", "summary_lines", "write_spots_csv", "write_overlay"]
