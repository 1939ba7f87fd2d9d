"""The batch report: one self-contained HTML page (inline CSS/JS, relative links, opens offline)."""
from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

from spotscale.data.types import DISCLAIMER, FINAL_LABELS

TABLE_COLUMNS: tuple[tuple[str, str, bool], ...] = (  # (images.csv column, header, numeric)
    ("status", "status", False),
    ("n_spots", "spots", True),
    *((f"n_{label}", label, True) for label in FINAL_LABELS),
    ("petechiae_per_6_25cm2", "petechiae / 6.25 cm²", True),
    ("max_petechiae_6_25cm2", "densest 6.25 cm²", True),
    ("skin_fraction", "skin share", True),  # 0: no skin found, no spot looked for
    ("mm_per_px", "mm/px", True),
    ("scale_source", "scale", False),
    ("error", "error", False),
)

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em} .note{color:#7a4b00;background:#fff6e0;padding:.5em .8em;border-radius:4px}
table{border-collapse:collapse;margin:.8em 0} th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:middle}
th{background:#f0f0f0;cursor:pointer;user-select:none;position:sticky;top:0} th.sorted-asc::after{content:" \\25B2"}
th.sorted-desc::after{content:" \\25BC"} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.error td{background:#fdecec} img.thumb{max-width:160px;max-height:120px;display:block}
.totals td,.totals th{cursor:default} #filter{margin:.3em 0;padding:3px;width:20em}
"""

_JS = """
(function(){
  var table=document.getElementById('images');
  var heads=table.tHead.rows[0].cells;
  function key(row,i,num){var v=row.cells[i].getAttribute('data-v');
    if(num){var x=parseFloat(v);return isNaN(x)?-Infinity:x;} return (v||'').toLowerCase();}
  for(var i=0;i<heads.length;i++){(function(i){
    var th=heads[i]; if(th.getAttribute('data-sort')==='none')return;
    th.addEventListener('click',function(){
      var num=th.getAttribute('data-sort')==='num';
      var asc=!th.classList.contains('sorted-asc');
      for(var j=0;j<heads.length;j++){heads[j].classList.remove('sorted-asc','sorted-desc');}
      th.classList.add(asc?'sorted-asc':'sorted-desc');
      var body=table.tBodies[0]; var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){var x=key(a,i,num),y=key(b,i,num);
        var c=x<y?-1:x>y?1:(+a.getAttribute('data-i'))-(+b.getAttribute('data-i')); return asc?c:-c;});
      rows.forEach(function(r){body.appendChild(r);});
    });})(i);}
  var f=document.getElementById('filter');
  f.addEventListener('input',function(){var q=f.value.toLowerCase();
    Array.prototype.forEach.call(table.tBodies[0].rows,function(r){
      r.style.display=r.textContent.toLowerCase().indexOf(q)<0?'none':'';});});
})();
"""


def _href(rel: str) -> str:
    """A relative URL for a path under the output folder (spaces, '#', non-ASCII escaped)."""
    return quote(rel.encode("utf-8", "surrogateescape"), safe="/")


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _row_html(i: int, part: dict) -> str:
    row = part["image_row"]
    image = row.get("image", part.get("image", ""))
    thumb, overlay = part.get("thumb") or "", part.get("overlay") or ""
    if thumb:
        pic = f'<img class="thumb" src="{_href(thumb)}" alt="overlay of {_e(image)}">'
        cell = f'<a href="{_href(overlay or thumb)}">{pic}</a>'
    else:
        cell = ""
    name = f'<a href="{_href(overlay)}">{_e(image)}</a>' if overlay else _e(image)
    cells = [f'<td class="num" data-v="{i}">{i}</td>', f"<td>{cell}</td>",
             f'<td data-v="{_e(image)}">{name}</td>']
    for col, _, numeric in TABLE_COLUMNS:
        v = row.get(col, "")
        cells.append(f'<td{" class=num" if numeric else ""} data-v="{_e(v)}">{_e(v)}</td>')
    cls = ' class="error"' if row.get("status") != "ok" else ""
    return f'<tr{cls} data-i="{i}">{"".join(cells)}</tr>'


def render_report(parts: list[dict], summary: dict) -> str:
    """The report page as a string (parts in output order, summary as in summary.json)."""
    totals = summary.get("totals", {})
    total_cells = "".join(f"<td class=num>{_e(totals.get(label, 0))}</td>" for label in FINAL_LABELS)
    model = summary.get("model") or {}
    model_text = ", ".join(f"{k}: {v}" for k, v in model.items() if isinstance(v, (str, int, float)))
    heads = ['<th data-sort="num">#</th>', '<th data-sort="none">overlay</th>', '<th>image</th>']
    heads += [f'<th data-sort="{"num" if num else "text"}">{_e(h)}</th>' for _, h, num in TABLE_COLUMNS]
    errors = [p["image_row"].get("error", "") for p in parts if p["image_row"].get("status") != "ok"]
    error_html = ("<h2>Errors</h2><ul>" + "".join(f"<li>{_e(e)}</li>" for e in errors) + "</ul>"
                  if errors else "")
    status = "complete" if summary.get("complete") else "incomplete (run again with --resume)"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>spotscale report</title><style>{_CSS}</style></head>
<body>
<h1>spotscale score report</h1>
<p class="note">{_e(summary.get("disclaimer", DISCLAIMER))}</p>
<p>{_e(summary.get("n_images", len(parts)))} photos: {_e(summary.get("n_ok", 0))} analysed,
{_e(summary.get("n_error", 0))} errors, {_e(summary.get("n_pending", 0))} pending &mdash; run {_e(status)}.
Scheme: {_e(summary.get("scheme"))}{f" ({_e(summary['scheme_source'])})" if summary.get("scheme_source") else ""}. Model: {_e(model_text or "none")}.
Started {_e(summary.get("started"))}, finished {_e(summary.get("finished") or "-")}.</p>
<table class="totals"><tr>{"".join(f"<th>{_e(label)}</th>" for label in FINAL_LABELS)}</tr>
<tr>{total_cells}</tr></table>
{error_html}
<h2>Photos</h2>
<p>Click a column header to sort. <input id="filter" type="search" placeholder="filter rows"></p>
<table id="images"><thead><tr>{"".join(heads)}</tr></thead>
<tbody>
{chr(10).join(_row_html(i + 1, p) for i, p in enumerate(parts))}
</tbody></table>
<script>{_JS}</script>
</body></html>
"""


def write_report(out: str | os.PathLike, parts: list[dict], summary: dict) -> Path:
    """Write OUT/report.html atomically and return its path."""
    from spotscale.inference.batch import write_atomic
    path = Path(out) / "report.html"
    write_atomic(path, render_report(parts, summary).encode("utf-8", "surrogateescape"))
    return path


__all__ = ["render_report", "write_report", "TABLE_COLUMNS"]
