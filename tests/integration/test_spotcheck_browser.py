"""The rating page in headless Chromium: the link opens the session, keys vote, videos play in sync, results show.

Needs Debian's chromium (`apt-get install chromium`) and the PyPI playwright package; skipped without them.
Screenshots go to $SPOTCHECK_SCREENSHOTS (a folder) when set.
"""

import pytest

from studio.spotcheck import VoteStore, create_session_from_folders
from tests.fixtures.browser import ARGS, CHROMIUM, screenshot_if_asked
from tests.fixtures.spotcheck_app import build_app, launch
from tests.fixtures.spotcheck_fakes import write_fake_compare
from tests.integration.test_spotcheck_ui import free_port

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("spotcheck-browser")
    for i, prompt in enumerate(["a red circle", "a blue square"]):
        write_fake_compare(root / "img" / f"c{i}", prompt=prompt, seed=i, variants=("baseline", "teacache"))
    write_fake_compare(root / "vid", prompt="a small blue square moving right", video=True,
                       variants=("baseline", "teacache"))
    db = str(root / "spot.sqlite3")
    demo = build_app(db)
    url = launch(demo, free_port())
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield url, VoteStore(db), root, browser
        browser.close()
    demo.close()


def _start(page, url: str, session_id: str, rater: str) -> None:
    page.goto(f"{url}?spotcheck={session_id}")
    session_box = page.locator("#spotcheck-session textarea, #spotcheck-session input").first
    sync_api.expect(session_box).to_have_value(session_id, timeout=30_000)  # filled from the link, tab selected
    # a name typed while the page still renders can be wiped by the render (seen once in ~10 runs): let it settle
    page.wait_for_load_state("networkidle")
    rater_box = page.locator("#spotcheck-rater textarea, #spotcheck-rater input").first
    rater_box.fill(rater)
    sync_api.expect(rater_box).to_have_value(rater)
    page.locator("#spotcheck-start").click()


def test_link_keys_reveal_and_results(served):
    url, store, root, browser = served
    session = create_session_from_folders(store, [root / "img"])
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    _start(page, url, session.id, "Ana")
    sync_api.expect(page.get_by_text("Pair 1 of 2")).to_be_visible(timeout=30_000)
    assert "teacache" not in page.content() and "baseline" not in page.content()  # blind until the end
    # the two images arrive just after the pair counter: wait for them rather than count at once
    sync_api.expect(page.locator("#spotcheck-left-image img, #spotcheck-right-image img")).to_have_count(
        2, timeout=30_000)
    screenshot_if_asked(page, "SPOTCHECK_SCREENSHOTS", "spotcheck-rating.png")
    page.locator("body").click(position={"x": 5, "y": 5})  # focus outside the text boxes
    page.keyboard.press("1")  # left is better
    sync_api.expect(page.get_by_text("Pair 2 of 2")).to_be_visible(timeout=30_000)
    first = store.votes(session.id)[0]
    assert first.choice == ("variant" if first.shown_left == "teacache" else "reference")
    page.keyboard.press("2")  # same quality
    sync_api.expect(page.get_by_text("All 2 pairs rated")).to_be_visible(timeout=30_000)
    assert [v.choice for v in store.votes(session.id)][1] == "tie"
    page.wait_for_function("() => document.body.innerText.includes('teacache')", timeout=30_000)  # revealed now
    screenshot_if_asked(page, "SPOTCHECK_SCREENSHOTS", "spotcheck-reveal.png")
    page.get_by_text("Results", exact=True).click()
    page.locator("#spotcheck-show-results").click()
    page.wait_for_function("() => document.body.innerText.includes('indistinguishable from baseline')",
                           timeout=30_000)
    screenshot_if_asked(page, "SPOTCHECK_SCREENSHOTS", "spotcheck-results.png")
    page.close()


def test_typing_a_digit_in_the_comment_does_not_vote(served):
    url, store, root, browser = served
    session = create_session_from_folders(store, [root / "img" / "c0"])
    page = browser.new_page()
    _start(page, url, session.id, "Bob")
    sync_api.expect(page.get_by_text("Pair 1 of 1")).to_be_visible(timeout=30_000)
    comment = page.get_by_label("Comment (optional, saved with your vote)")
    comment.fill("")
    comment.press("1")
    page.wait_for_timeout(500)
    assert store.votes(session.id) == []
    page.close()


def test_videos_play_in_sync(served):
    url, store, root, browser = served
    session = create_session_from_folders(store, [root / "vid"])
    page = browser.new_page()
    _start(page, url, session.id, "Cy")
    sync_api.expect(page.get_by_text("Pair 1 of 1")).to_be_visible(timeout=30_000)
    page.wait_for_function("""() => {
        const v = [...document.querySelectorAll('#spotcheck-left-video video, #spotcheck-right-video video')];
        return v.length === 2 && v.every(x => !x.paused && x.readyState >= 2);
    }""", timeout=30_000)
    page.wait_for_timeout(700)
    drift = page.evaluate("""() => {
        const [l, r] = ['#spotcheck-left-video video', '#spotcheck-right-video video'].map(s =>
            document.querySelector(s));
        const d = l.duration, gap = Math.abs(l.currentTime - r.currentTime);
        return [Math.min(gap, d - gap), l.loop && r.loop];  // apart around the loop
    }""")
    assert drift[0] < 0.25 and drift[1], drift
    screenshot_if_asked(page, "SPOTCHECK_SCREENSHOTS", "spotcheck-video.png")
    page.close()


@pytest.mark.parametrize("kind, tag, folder", [("image", "img", "img/c0"), ("video", "video", "vid")])
def test_a_phone_shows_the_pair_side_by_side_in_view(served, kind, tag, folder):
    # Raters open the share link on phones too; gradio stacks a row there, which put "Right" a scroll below "Left".
    url, store, root, browser = served
    session = create_session_from_folders(store, [root / folder])
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    _start(page, url, session.id, "Dee")
    sync_api.expect(page.get_by_text("Pair 1 of 1")).to_be_visible(timeout=30_000)
    media = [page.locator(f"#spotcheck-{side}-{kind} {tag}").first for side in ("left", "right")]
    for m in media:
        sync_api.expect(m).to_be_visible(timeout=30_000)
    page.wait_for_function("() => window.scrollY > 0", timeout=10_000)  # Start scrolls the pair into view
    page.wait_for_timeout(300)  # let a smooth scroll settle
    left, right = (m.bounding_box() for m in media)
    vote_left, vote_right = (page.locator(f"#spotcheck-{side}").bounding_box() for side in ("left", "right"))
    screenshot_if_asked(page, "SPOTCHECK_SCREENSHOTS", f"spotcheck-phone-{kind}.png")
    assert abs(left["y"] - right["y"]) < 2 and left["x"] + left["width"] <= right["x"], (left, right)
    assert right["x"] + right["width"] <= 390 and min(left["width"], right["width"]) >= 140, (left, right)
    assert abs(vote_left["y"] - vote_right["y"]) < 2 and vote_left["x"] < vote_right["x"], (vote_left, vote_right)
    # after Start the pair and its buttons are on screen without scrolling
    assert left["y"] >= 0 and vote_left["y"] + vote_left["height"] <= 844, (left, vote_left)
    context.close()
