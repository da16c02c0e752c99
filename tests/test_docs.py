"""The documentation site (`make docs`, `myvlm_art.docs`): build the index and the gating page from the notebooks
and open both in headless Chromium (Debian's `chromium`): they render with their code, their outputs and the API
of the module, and show no error text."""
import html, re, shutil
from pathlib import Path
import pytest
from report_check import check_report, report_problems

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from myvlm_art.docs import DocsConfig, build_docs
    if not (shutil.which("chromium") or shutil.which("chromium-browser")): pytest.skip("chromium not installed (`make browser`)")
    tmp = tmp_path_factory.mktemp("docs")
    return build_docs(DocsConfig(nbs=ROOT/"nbs", dest=tmp/"site", cache=tmp/"cache", pages=("index", "gating"),
                                 report=ROOT/"results"/"report"/"report.html"), progress=False)

def test_site_has_the_pages(site):
    names = sorted(p.name for p in site.iterdir())
    assert {"index.html", "gating.html"} <= set(names), names
    home = (site/"index.html").read_text()
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"(?s)<(style|script)\b.*?</\1>", "", home))).split())
    first = text[:text.index("What the embedded default is")]
    assert "make report" in first and "make test" in first, first[:600]   # the two commands, on the first screen
    assert 'href="gating.html"' in home

@pytest.mark.parametrize("page, must_show", [
    ("index", ["myvlm-art", "Two commands"]),
    ("gating", ["gating", "GateConfig", "MultiTokenConceptLayer", "select_concepts"]),
])
def test_page_renders_in_chromium(site, page, must_show):
    res = check_report(site/f"{page}.html")
    assert res["loaded"], f"{page}: the load event never fired"
    assert report_problems(res, {}) == [], report_problems(res, {})
    assert res["inputs"] >= 2, f"{page}: {res['inputs']} code cells shown"
    assert res["outputs"] >= 2, f"{page}: {res['outputs']} outputs shown"
    heads = " | ".join(res["headings"])
    for w in must_show: assert w in heads, f"{page}: no heading with {w!r} in {heads[:400]}"
    if page == "index": assert res["images"] >= 1, "index: the painting did not decode"
