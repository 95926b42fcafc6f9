"""The app in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no browser download).

Upload an example video, type labels, see the ranking; see a clear message for a bad input; classify with a
checkpoint; open the Explore tab and see the map with the session's video on it. Screenshots are saved in
the test's temporary folder (their paths are printed: run with -s to see them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_app import EXAMPLES, MATCHING, app_checkpoints, random_service, running_app

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LABELS = "bird chirping, car engine, playing drums, playing piano, fish in an aquarium, dog barking"
SLOW = 180_000  # ms: the first map may wait for numba to compile UMAP on a busy 2-core machine


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    service = random_service(app_checkpoints(tmp_path_factory))
    with running_app(service, tmp_path_factory.mktemp("browser-app"), warm_up=True) as (_, url):
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: install Debian's chromium (CI does)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def wait_for_svg_text(page, text: str) -> None:
    """Wait until the plot shows `text` (plotly draws SVG <text>, which has no innerText for has_text filters)."""
    page.wait_for_function(
        "t => [...document.querySelectorAll('#embedding-map svg text')].some(e => e.textContent === t)",
        arg=text, timeout=SLOW)


@pytest.fixture
def page(browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield page
    page.screenshot(path=str(tmp_path / "last.png"), full_page=True)  # what the page showed at the end (or failure)
    page.close()


def test_classify_and_explore_in_a_browser(app_url, page, tmp_path):
    from playwright.sync_api import expect

    crashes = []
    page.on("pageerror", lambda e: crashes.append(f"{e}\n{e.stack}"))
    page.goto(app_url)

    # A newcomer sees what the page is for, and that these results are meaningless.
    expect(page.get_by_role("heading", name=re.compile("what is happening in this video"))).to_be_visible()
    expect(page.locator("#random-banner")).to_contain_text("meaningless")

    # Upload an example, type labels, classify.
    page.locator("#video-input input[type=file]").set_input_files(str(EXAMPLES / "bird.mp4"))
    expect(page.locator("#video-input video")).to_be_attached(timeout=30_000)
    page.locator("#labels-input textarea").fill(LABELS)
    page.locator("#classify-button").click()
    table = page.locator("#ranking-table")
    expect(table).to_contain_text("playing piano", timeout=SLOW)
    for label in LABELS.split(", "):
        expect(table).to_contain_text(label)
    expect(page.locator("#top-labels")).to_contain_text("%")
    expect(page.locator("#timings")).to_contain_text("total")
    expect(page.locator("#warnings")).to_contain_text("Random-weight encoders")
    page.screenshot(path=str(tmp_path / "classify.png"), full_page=True)

    # A bad input: a clear message in the page, not a stack trace.
    page.locator("#labels-input textarea").fill(" , ")
    page.locator("#classify-button").click()
    expect(page.locator("#warnings")).to_contain_text("Type at least one label", timeout=30_000)
    expect(page.locator("#ranking-table")).not_to_contain_text("playing piano")  # no stale result
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(800)  # Gradio's pop-up in the corner says the same while it lasts
    page.screenshot(path=str(tmp_path / "bad-input.png"))  # the viewport: the message pops up in its corner
    assert "Traceback" not in page.content()

    # An example from the gallery: a clip without sound, classified from the picture, with a visible warning.
    # The label box still holds the bad input: the example's suggested labels replace it.
    page.locator("#examples").get_by_text("aquarium", exact=True).click()
    expect(page.locator("#warnings")).to_contain_text("no audio track", timeout=SLOW)
    expect(table).to_contain_text("fish in an aquarium")

    # The aquarium clip again, with the trained checkpoint: it will be on that checkpoint's joint map.
    page.locator("#model-input input").click()
    page.get_by_role("option", name=re.compile(MATCHING)).click()
    page.locator("#labels-input textarea").fill(LABELS)
    page.locator("#classify-button").click()
    expect(table).to_contain_text("unseen", timeout=SLOW)

    # Explore: the map of the checkpoint's atlas, with the user's video and labels on it.
    page.get_by_role("tab", name="Explore the embedding maps").click()
    plot = page.locator("#embedding-map .js-plotly-plot")
    expect(plot).to_be_visible(timeout=SLOW)
    wait_for_svg_text(page, "your videos")  # legend entries of the session's points
    wait_for_svg_text(page, "your labels")
    expect(page.locator("#map-status")).to_contain_text("test videos")
    assert page.locator("#embedding-map .scatterlayer .trace").count() > 10  # one trace per class, and more
    page.screenshot(path=str(tmp_path / "explore.png"), full_page=True)

    # All three spaces side by side.
    page.get_by_label("All three side by side").check()
    wait_for_svg_text(page, "Input: sound (CLAP) · UMAP")  # the third panel's title
    page.screenshot(path=str(tmp_path / "explore-three.png"), full_page=True)

    assert not crashes, "\n\n".join(crashes)
    print(f"\nscreenshots: {sorted(str(p) for p in tmp_path.glob('*.png'))}")
