"""The batch report: self-contained, escaped, thumbnails load and columns sort in headless Chromium."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from spotscale.inference.html_report import render_report
from tests.inference.test_batch import make_photo, run_fake

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)

# Runs after the page loaded: "<complete images with pixels>|<images>|<first image after sorting>".
PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var th = Array.prototype.filter.call(document.querySelectorAll('#images th'),
                                       function (t) { return t.textContent === 'spots'; })[0];
  th.click(); th.click();  // numeric sort, descending
  var first = document.querySelector('#images tbody tr').cells[2].textContent;
  document.title = ok + '|' + imgs.length + '|' + first;
});
</script>"""


def _part(image: str, n_spots: int, status: str = "ok", error: str = "") -> dict:
    row = {"image": image, "status": status, "error": error, "n_spots": n_spots if status == "ok" else ""}
    return {"image": image, "image_row": row, "spot_rows": [], "overlay": "", "thumb": ""}


def test_report_escapes_untrusted_names_and_needs_no_network():
    parts = [_part('<script>alert(1)</script>.jpg', 2), _part("a b#?.png", 0, "error", "a b#?.png: empty file")]
    page = render_report(parts, {"n_images": 2, "n_ok": 1, "n_error": 1, "totals": {"petechia": 2},
                                 "disclaimer": "not a diagnosis"})
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in page
    assert page.count("<script>") == 1  # only the report's own inline script
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from the network
    assert "<h2>Errors</h2>" in page and "a b#?.png: empty file" in page and "not a diagnosis" in page


def test_report_opens_in_headless_chromium_with_thumbnails_and_numeric_sort(tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium is not installed (apt-get install chromium); not required outside CI")
    root, out = tmp_path / "in", tmp_path / "out"
    # 9 and 10 spots: a text sort would put "9" first, a numeric descending sort puts 10 first.
    make_photo(root / "few spots.png", [2], size=(640, 120))
    make_photo(root / "nine.jpg", [2] * 9, size=(640, 120))
    make_photo(root / "ten ü.jpg", [2] * 10, size=(640, 120))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    run_fake(root, out)
    page = (out / "report.html").read_text()
    probe = out / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    profile = tmp_path / "profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    title = re.search(r"<title>(.*?)</title>", r.stdout)
    assert title, f"no DOM dumped; chromium said: {r.stderr[-500:]}"
    loaded, total, first = title.group(1).split("|")
    assert (int(loaded), int(total)) == (3, 3)  # every ok photo has a thumbnail, and it loads
    assert first == "ten ü.jpg"


def test_report_shows_each_photos_skin_share_so_a_photo_without_skin_stands_out():
    skinless, skin = _part("towel.jpg", 0), _part("leg.jpg", 3)
    skinless["image_row"]["skin_fraction"], skin["image_row"]["skin_fraction"] = 0.0, 0.62
    page = render_report([skinless, skin], {"n_images": 2, "n_ok": 2, "n_error": 0, "totals": {}})
    assert "skin share" in page
    assert re.search(r"""data-v=["']?0\.0["' >]""", page) and re.search(r"""data-v=["']?0\.62["' >]""", page)
