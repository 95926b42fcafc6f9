"""The app in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no browser download).

Upload an example video, type labels, see the ranking; see a clear message for a bad input; classify with a
checkpoint; open the Explore tab and see the map with the session's video on it. Record a clip with the
webcam (Chromium's fake camera and microphone) and classify it, sound included. Screenshots are saved in
the test's temporary folder (their paths are printed: run with -s to see them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, EXAMPLES, MATCHING, random_service, running_app

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LABELS = "bird chirping, car engine, playing drums, playing piano, fish in an aquarium, dog barking"
SLOW = 180_000  # ms: the first map may wait for numba to compile UMAP on a busy 2-core machine


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, app_checkpoints):
    service = random_service(app_checkpoints)
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
    # Under the map: the checkpoint's evaluation report, drawn from what training stored (no data set).
    expect(page.locator("#report-plot .js-plotly-plot")).to_be_visible(timeout=SLOW)
    expect(page.locator("#report-status")).to_contain_text("scored as in evaluation")

    # All three spaces side by side.
    page.get_by_label("All three side by side").check()
    wait_for_svg_text(page, "Input: sound (CLAP) · UMAP")  # the third panel's title
    page.screenshot(path=str(tmp_path / "explore-three.png"), full_page=True)

    assert not crashes, "\n\n".join(crashes)
    print(f"\nscreenshots: {sorted(str(p) for p in tmp_path.glob('*.png'))}")


def record_clip(page, seconds: float = 2) -> bool:
    """Record with the webcam source of #video-input (Record, wait, Stop) and wait for the upload.

    Returns whether the browser can play the recording (False: the file it got is not a whole video)."""
    from playwright.sync_api import expect

    video = page.locator("#video-input")
    if video.get_by_text("Click to Access Webcam").count():
        video.get_by_text("Click to Access Webcam").click()
    record = video.get_by_role("button", name="start recording")  # one button: Record, then Stop
    expect(record).to_have_text(re.compile("Record"), timeout=30_000)
    # The camera's live picture is playing (the recorder would otherwise wait for its first frames).
    page.wait_for_function("() => [...document.querySelectorAll('#video-input video')].some(v => v.srcObject "
                           "&& v.readyState >= 2 && v.currentTime > 0.5)", timeout=30_000)
    record.click()
    expect(record).to_have_text(re.compile("Stop"))
    page.wait_for_timeout(seconds * 1000)
    record.click()
    recorded = video.locator("video[src*='gradio_api/file=']")
    expect(recorded).to_be_attached(timeout=30_000)  # the recording, uploaded to the server
    assert recorded.get_attribute("src").endswith(".webm"), recorded.get_attribute("src")
    player = recorded.element_handle()
    page.wait_for_function("v => v.readyState >= 1 || v.error !== null", arg=player, timeout=30_000)
    return player.evaluate("v => v.error === null")


def test_record_with_the_webcam_and_classify(app_url, browser, tmp_path):
    """The webcam source: record two seconds (picture and sound), classify the recording as any upload.

    Gradio's recorder builds the file from the chunks MediaRecorder has delivered when Stop is pressed,
    without waiting for the last one; on a loaded machine that is now and then only the first byte of the
    WebM header, which the browser cannot play either. The app must then say that the recording was cut
    short: that message is checked, and the test records again, up to three times.
    """
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, permissions=["camera", "microphone"])
    page = context.new_page()
    try:
        page.goto(app_url)
        page.locator("#video-input").get_by_role("button", name="Capture from camera").click()
        page.locator("#labels-input textarea").fill("beeping, green circle, dog barking")
        table, warnings = page.locator("#ranking-table"), page.locator("#warnings")
        for attempt in range(3):
            playable = record_clip(page)
            page.locator("#classify-button").click()
            if playable:
                expect(table).to_contain_text("green circle", timeout=SLOW)
                break
            expect(warnings).to_contain_text("sample.webm looks like a video", timeout=SLOW)
            expect(warnings).to_contain_text("truncated (an upload or a recording cut short)")
            page.locator("#video-input button[aria-label=Clear]").first.click()  # the recording's, not the trimmer's
        for label in ("beeping", "dog barking"):
            expect(table).to_contain_text(label)
        expect(warnings).not_to_contain_text("Not classified")
        # The fake microphone was recorded: the sound was used, and the 10 s the model heard are playable.
        expect(page.get_by_text("The 10 s of sound the model heard")).to_be_visible()
        expect(warnings).not_to_contain_text("no audio track")
        expect(page.locator("#heard-audio")).to_contain_text("0:10", timeout=30_000)  # the player's length
        page.screenshot(path=str(tmp_path / "webcam.png"), full_page=True)
    finally:
        page.close()
        context.close()


def test_whole_video_timeline_and_a_sound_file_in_a_browser(app_url, page, tmp_path):
    """The multi-scene example is shown as a timeline of its moments; the sound-file example by its sound."""
    from playwright.sync_api import expect

    page.goto(app_url)
    page.locator("#examples").get_by_text("scenes", exact=True).click()
    timeline = page.locator("#timeline .js-plotly-plot")
    expect(timeline).to_be_visible(timeout=SLOW)
    expect(page.locator("#moment-frames")).to_be_visible()
    assert page.locator("#moment-frames img").count() == 8  # each moment's frame
    page.wait_for_function(  # the heat map's rows are the labels
        "() => [...document.querySelectorAll('#timeline svg text')].some(e => e.textContent === 'bird chirping')",
        timeout=SLOW)
    expect(page.locator("#timeline")).to_contain_text("What happens when: 8 moments")
    timeline.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "timeline.png"), full_page=True)

    page.locator("#examples").get_by_text("piano.mp3", exact=True).click()
    expect(page.locator("#warnings")).to_contain_text("classified by its sound alone", timeout=SLOW)
    expect(page.locator("#timeline")).not_to_be_visible()
    expect(page.get_by_text("A sound file", exact=True)).to_be_visible()  # the note under the player
    page.screenshot(path=str(tmp_path / "sound-file.png"), full_page=True)
    print(f"\nscreenshots: {tmp_path / 'timeline.png'}, {tmp_path / 'sound-file.png'}")
