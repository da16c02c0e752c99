"""The demo (`myvlm-art demo`, `myvlm_art.demo`) in a real browser: start it on a free localhost port with a tiny
system, pick a test painting and upload a bad file in headless Chromium (Debian's `chromium` + `chromium-driver`,
driven by selenium), and check the page against the library's own `explain_painting` for the same painting."""
import shutil, time
from pathlib import Path
import pytest

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def demo():
    if not (Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists()):
        pytest.skip("chromium / chromium-driver not installed (`make browser`)")
    from myvlm_art.demo import DemoConfig, load_demo_system, start_demo
    cfg = DemoConfig(tiny=32, examples=4, port=0, max_new_tokens=8)
    ds = load_demo_system(cfg, progress=False)
    run = start_demo(ds, cfg)
    yield ds, cfg, run
    run.stop()


@pytest.fixture(scope="module")
def browser(demo):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"): opts.add_argument(a)
    opts.binary_location = CHROMIUM
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(120)
    yield drv
    drv.quit()


def _submit(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    browser.find_element(By.ID, "explain").click()
    WebDriverWait(browser, 120).until(lambda d: d.find_elements(By.ID, "result") or d.find_elements(By.ID, "error"))


def test_picked_painting_matches_the_library(demo, browser):
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    from myvlm_art.demo import explain_painting
    ds, cfg, run = demo
    name = ds.examples[1]
    browser.get(run.url)
    Select(browser.find_element(By.ID, "painting")).select_by_value(name)
    t = time.perf_counter(); _submit(browser); secs = time.perf_counter() - t
    assert not browser.find_elements(By.ID, "error"), browser.find_element(By.ID, "error").text
    # what the library says for the same painting
    rec = ds.system.data.records.set_index("image").loc[name].to_dict()
    im = Image.open(ds.system.data.spec.images_root/name).convert("RGB")
    want = explain_painting(ds, im, rec, cfg.max_new_tokens)
    shown = [(td.text, int(tk.text)) for td, tk in zip(browser.find_elements(By.CSS_SELECTOR, "#active td.concept"),
                                                        browser.find_elements(By.CSS_SELECTOR, "#active td.tokens"))]
    assert shown == [(a["concept"], a["tokens"]) for a in want["active"]]
    answers = {p.get_attribute("data-key"): p.get_attribute("textContent") for p in browser.find_elements(By.CSS_SELECTOR, "pre.answer")}
    assert answers == want["answers"]
    truth = browser.find_element(By.ID, "truth").text
    assert all(f"{d}: {v}" in truth for d, v in want["truth"].items()), truth
    assert len(browser.find_elements(By.CSS_SELECTOR, "#evidence li")) == len(want["evidence"])
    # the chart and the painting decoded in the browser
    for el in ("signals", "painting-image"):
        assert browser.execute_script(f"const i = document.getElementById('{el}'); return i.complete && i.naturalWidth > 0;"), el
    print(f"request to answer in the browser: {secs:.2f}s (tiny system, 4 answers of {cfg.max_new_tokens} tokens)")


def test_bad_upload_is_a_message(demo, browser, tmp_path):
    from selenium.webdriver.common.by import By
    ds, cfg, run = demo
    bad = tmp_path/"notes.png"; bad.write_text("a shopping list, not a painting")
    browser.get(run.url)
    browser.find_element(By.ID, "upload").send_keys(str(bad))
    _submit(browser)
    err = browser.find_element(By.ID, "error").text
    assert err == "notes.png: not an image Pillow can read (PNG, JPEG, WebP, …)", err
    assert "Traceback" not in browser.page_source and not browser.find_elements(By.ID, "result")
