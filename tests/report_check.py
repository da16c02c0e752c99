"""Open the rendered report in headless Chromium and read back what the browser actually shows.

`check_report(html)` copies the page to a temp dir, injects a script that (on window `load`) records every
`figure[data-report-figure]` (its image's natural size, whether it decoded), every `[data-report-table]`
(its `<tr>` count) and every sign of error output, dumps the DOM with Debian's `chromium --headless`, and
returns that record. `report_problems(result, manifest)` turns it into one readable line per problem.

nbconvert 7's `lab` template renders both stderr streams and errors (tracebacks) as
`<div class="jp-RenderedText jp-OutputArea-output" data-mime-type="application/vnd.jupyter.stderr">`; there
is no error-specific class. The classic template's `output_stderr`/`output_error` classes are checked too.
"""
import html, json, os, re, shutil, subprocess, tempfile
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]
# the report must be self-contained: no request leaves the machine (file: and data: URLs still load)
OFFLINE_FLAG = "--host-resolver-rules=MAP * ~NOTFOUND"
TIMEOUT_S = 120

_PROBE = r"""
<script>
(function () {
  var done = false;
  function txt(el) { return (el.innerText || el.textContent || "").trim(); }
  function probe(loaded) {
    if (done) return; done = true;
    var out = {loaded: loaded, figures: [], tables: [], errors: []};
    document.querySelectorAll("figure[data-report-figure]").forEach(function (f) {
      var img = f.querySelector("img");
      out.figures.push({name: f.getAttribute("data-report-figure"), has_img: !!img,
                        naturalWidth: img ? img.naturalWidth : 0, naturalHeight: img ? img.naturalHeight : 0,
                        complete: img ? img.complete : false});
    });
    document.querySelectorAll("[data-report-table]").forEach(function (t) {
      out.tables.push({name: t.getAttribute("data-report-table"), rows: t.querySelectorAll("tr").length});
    });
    // what a documentation page shows: its code cells, their outputs, decoded images and headings
    out.inputs = document.querySelectorAll(".jp-InputArea").length;
    out.outputs = document.querySelectorAll(".jp-OutputArea-output").length;
    out.images = Array.prototype.filter.call(document.querySelectorAll("img"), function (i) { return i.complete && i.naturalWidth > 0; }).length;
    out.headings = Array.prototype.map.call(document.querySelectorAll("h1, h2, h3, h4"), function (h) { return txt(h).slice(0, 80); });
    var seen = [];
    function add(kind, el) {
      if (seen.indexOf(el) >= 0) return; seen.push(el);
      out.errors.push({kind: kind, text: txt(el).slice(0, 400)});
    }
    document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').forEach(function (e) { add("stderr output", e); });
    document.querySelectorAll('.output_stderr, .output_error').forEach(function (e) { add("stderr/error output", e); });
    document.querySelectorAll('.jp-OutputArea-output[class*="error" i], .jp-OutputArea-output[class*="traceback" i], [class*="traceback" i]')
      .forEach(function (e) { add("error output", e); });
    // a traceback printed anywhere except in cell sources (inputs) and this probe
    var body = document.body.cloneNode(true);
    body.querySelectorAll(".jp-InputArea, .jp-Cell-inputWrapper, .input_area, script, style, #report-check")
      .forEach(function (e) { e.remove(); });
    var all = body.textContent || "", i = all.indexOf("Traceback (most recent call last)");
    if (i >= 0 && !out.errors.some(function (e) { return e.text.indexOf("Traceback (most recent call last)") >= 0; }))
      out.errors.push({kind: "traceback text", text: all.slice(Math.max(0, i - 100), i + 300).trim()});
    var pre = document.createElement("pre");
    pre.id = "report-check"; pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  window.addEventListener("load", function () { probe(true); });
  setTimeout(function () { probe(false); }, 9000);   // virtual time: report even if `load` never fires
})();
</script>
"""


def chromium_path():
    "The Chromium binary (`$MYVLM_CHROMIUM`, else `chromium`/`chromium-browser` on PATH); a clear error when absent."
    cand = os.environ.get("MYVLM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not cand or not Path(cand).exists():
        raise RuntimeError("chromium not found: the report check needs Debian's headless Chromium; "
                           "`make browser` installs it (apt-get install chromium)")
    return cand


def check_report(html_path, manifest_path=None) -> dict:
    "Render `html_path` in headless Chromium; return what it shows (figures, tables, errors) plus the manifest, if given."
    html_path = Path(html_path)
    src = html_path.read_text(encoding="utf-8")
    exe = chromium_path()
    with tempfile.TemporaryDirectory(prefix="report-check-") as tmp:
        tmp = Path(tmp)
        page = tmp/"page.html"
        # the last </body>, found case-blind without `lower()` (which can change the length: 'İ'.lower() is two characters)
        i = max((m.start() for m in re.finditer(r"</body>", src, re.I)), default=-1)
        page.write_text(src[:i] + _PROBE + src[i:] if i >= 0 else src + _PROBE, encoding="utf-8")
        cmd = [exe, *CHROMIUM_FLAGS, OFFLINE_FLAG, f"--user-data-dir={tmp/'profile'}",
               "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                               env={**os.environ, "HOME": str(tmp)})
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"chromium did not finish within {TIMEOUT_S} s on {html_path}") from e
    m = re.search(r'<pre id="report-check">(.*?)</pre>', r.stdout, re.S)
    if not m:
        raise RuntimeError(f"chromium gave no report-check record for {html_path} (exit {r.returncode}); "
                           f"stderr tail: {r.stderr[-1500:]!r}; stdout head: {r.stdout[:500]!r}")
    result = json.loads(html.unescape(m.group(1)))
    if manifest_path is not None:
        result["manifest"] = json.loads(Path(manifest_path).read_text())
    return result


def report_problems(result, manifest=None) -> list:
    "One readable line per problem: a manifest table missing or < 2 rows, a figure missing or not decoded, any error output."
    manifest = manifest if manifest is not None else result.get("manifest", {})
    probs = []
    if not result.get("loaded", True):
        probs.append("page: the window `load` event never fired within the time budget")
    tables = {}
    for t in result.get("tables", []): tables.setdefault(t["name"], []).append(t)
    for name in manifest.get("tables", []):
        if name not in tables: probs.append(f"table {name!r}: missing (no [data-report-table={name!r}] element)")
        elif max(t["rows"] for t in tables[name]) < 2:
            probs.append(f"table {name!r}: only {max(t['rows'] for t in tables[name])} <tr> row(s), need >= 2")
    figs = {}
    for f in result.get("figures", []): figs.setdefault(f["name"], []).append(f)
    for name in manifest.get("figures", []):
        if name not in figs:
            probs.append(f"figure {name!r}: missing (no <figure data-report-figure={name!r}>)")
            continue
        for f in figs[name]:
            if not f.get("has_img", True): probs.append(f"figure {name!r}: has no <img>")
            elif not f.get("complete") or not f.get("naturalWidth") or not f.get("naturalHeight"):
                probs.append(f"figure {name!r}: image did not decode (naturalWidth={f.get('naturalWidth')}, "
                             f"naturalHeight={f.get('naturalHeight')}, complete={f.get('complete')})")
    for e in result.get("errors", []):
        probs.append(f"error output ({e['kind']}): {' '.join(e['text'].split())[:200]!r}")
    return probs
