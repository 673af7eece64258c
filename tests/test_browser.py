"""Lecture demos in a real browser: JupyterLab and Voila in headless Chromium (marker: browser)."""

import json
import shutil
import time
import urllib.request

import pytest

from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, TOKEN, move_slider, server
from tests.notebooks import LESSON_IDS, REPO

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.browser
if not shutil.which("chromium") and not shutil.os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on copies of the instructor notebooks (autosave must not touch the repository)."""
    folder = tmp_path_factory.mktemp("lab")
    for lesson in BROWSER_LESSONS:
        shutil.copytree(REPO / "solutions" / lesson, folder / lesson)
    # an nbgrader course, as an instructor's grading folder is (the formgrader needs one)
    (folder / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.root = {str(folder)!r}\n")
    with server("lab", folder) as url:
        yield url


def _page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


def _demo_png(demo) -> bytes:
    demo.scroll_into_view_if_needed()
    time.sleep(0.3)
    return demo.screenshot()


def _picture(demo) -> str:
    """The src of the demo's PNG (a blob URL that changes with every redraw)."""
    picture = demo.locator("img.aelib-picture, .aelib-picture img").first
    picture.wait_for(timeout=60_000)
    assert picture.bounding_box()["height"] > 50, "the demo shows no picture"
    return picture.get_attribute("src")


def _wait_for_change(demo, before: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _picture(demo) != before:
            return
        time.sleep(0.2)
    raise AssertionError("the demo's picture did not change after the slider moved")


# Every lesson's demo, in JupyterLab: its screenshots are the ones README shows (docs/demos/).
BROWSER_LESSONS = LESSON_IDS


@pytest.mark.parametrize("lesson", BROWSER_LESSONS)
def test_demo_in_jupyterlab(browser, lab, lesson):
    ARTIFACTS.mkdir(exist_ok=True)
    page, errors = _page(browser)
    # a workspace of its own, reset: only this lesson's notebook is open
    page.goto(f"{lab}/lab/workspaces/{lesson}/tree/{lesson}/{lesson}.ipynb?reset&token={TOKEN}")
    # Generous ceilings: a loaded 2-core machine runs the whole lesson before the demo appears.
    page.wait_for_selector(".jp-Notebook", timeout=300_000)
    page.wait_for_selector("text=| Idle", timeout=600_000)
    page.click("text=Run")
    page.click(".lm-Menu-item[data-command='runmenu:run-all']")
    demo = page.locator(".aelib-demo").first
    demo.wait_for(timeout=900_000)
    page.wait_for_selector("text=| Idle", timeout=900_000)
    before = _picture(demo)
    (ARTIFACTS / f"demo-{lesson}.png").write_bytes(_demo_png(demo))
    _assert_demo_fits(demo)
    move_slider(page, demo)
    _wait_for_change(demo, before)
    (ARTIFACTS / f"demo-{lesson}-moved.png").write_bytes(_demo_png(demo))
    _assert_demo_fits(demo)
    assert errors == [], f"page errors: {errors}"
    page.close()
    _shut_down_kernels(lab)


# The demo's layout as the browser drew it. For each slider readout: its text, whether the text
# overflows its box, and whether the box ends inside the controls' panel (not under the picture
# beside it); and the right edges of the picture and of the cell's output area.
_LAYOUT_JS = """demo => {
    const readouts = [...demo.querySelectorAll('.widget-readout')].map(r => {
        const panel = r.closest('.widget-vbox').getBoundingClientRect(), box = r.getBoundingClientRect();
        return {text: r.textContent, overflows: r.scrollWidth > r.clientWidth + 1, inside: box.right <= panel.right + 1};
    });
    const cell = demo.closest('.jp-OutputArea-output').getBoundingClientRect();
    return {readouts, picture_right: demo.querySelector('img').getBoundingClientRect().right, cell_right: cell.right};
}"""


def _assert_demo_fits(demo) -> None:
    """Every slider's value is shown in full (a lecturer reads it from the back of the room), and the
    picture beside the controls fits in the cell's output area."""
    layout = demo.evaluate(_LAYOUT_JS)
    assert layout["readouts"], "the demo has no slider readouts"
    cut = [r for r in layout["readouts"] if r["overflows"] or not r["inside"] or not r["text"].strip()]
    assert not cut, f"readouts cut off: {cut}"
    assert layout["picture_right"] <= layout["cell_right"] + 1, f"the picture runs past the cell: {layout}"


def _shut_down_kernels(lab: str) -> None:
    """Stop the lesson's kernel, so that the next lesson has the machine to itself."""
    headers = {"Authorization": f"token {TOKEN}"}
    with urllib.request.urlopen(urllib.request.Request(f"{lab}/api/kernels", headers=headers)) as response:
        kernels = json.load(response)
    for kernel in kernels:
        urllib.request.urlopen(urllib.request.Request(f"{lab}/api/kernels/{kernel['id']}", method="DELETE",
                                                      headers=headers)).close()


def test_nbgrader_pages_load_in_jupyterlab(browser, lab):
    page, errors = _page(browser)
    page.goto(f"{lab}/lab?token={TOKEN}")  # logs in: the token becomes a cookie
    menu = page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")
    menu.wait_for(timeout=300_000)
    menu.click()
    items = page.locator(".lm-Menu-itemLabel").all_inner_texts()
    assert "Assignment List" in items and "Formgrader" in items, items
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    page.wait_for_selector("text=Released assignments", timeout=120_000)
    menu.click()
    # the menu's own item: not a tab of the same name, not the "Formgrader (local)" item beside it
    page.locator("#jp-mainmenu-nbgrader").get_by_text("Formgrader", exact=True).click()
    frame = page.frame_locator("iframe").first
    frame.locator("text=Manage Assignments").first.wait_for(timeout=120_000)
    (ARTIFACTS / "formgrader.png").write_bytes(page.screenshot())
    assert errors == [], f"page errors: {errors}"
    page.close()


def test_lecture_mode_in_voila(browser, tmp_path):
    lesson = LESSON_IDS[0]
    shutil.copytree(REPO / "solutions" / lesson, tmp_path / lesson)
    with server("voila", tmp_path / lesson, notebook=f"{lesson}.ipynb") as url:
        page, errors = _page(browser)
        page.goto(url, wait_until="commit", timeout=60_000)  # Voila streams the page while it runs the cells
        demo = page.locator(".aelib-demo").first
        demo.wait_for(timeout=900_000)
        assert page.locator(".jp-InputArea-editor, .CodeMirror").count() == 0, "Voila must not show code"
        before = _picture(demo)
        move_slider(page, demo)
        _wait_for_change(demo, before)
        (ARTIFACTS / f"voila-{lesson}.png").write_bytes(_demo_png(demo))
        real_errors = [e for e in errors if "font" not in e.lower()]
        assert real_errors == [], f"page errors: {real_errors}"
        page.close()


def test_a_feedback_page_runs_no_script_a_student_printed(browser, tmp_path):
    """Student output goes through nbconvert's sanitiser: opening the page changes nothing."""
    from autograder.grade import grade
    from tests.classes.adversarial import attackers

    lesson = "01-copy-through"
    student = next(s for s in attackers(lesson, port=9) if s.name == "scripts-in-output")
    folder = tmp_path / "export"
    folder.mkdir()
    student.write(lesson, folder)
    grade(lesson, folder, tmp_path / "out", workers=1)
    page, errors = _page(browser)
    page.goto((tmp_path / "out" / "feedback" / student.name / f"{lesson}.html").as_uri())
    page.wait_for_load_state("load")
    time.sleep(1)
    assert page.title() != "pwned", "a script from the student's output ran in the feedback page"
    assert page.locator("text=Hidden tests ran here").count() > 0, "the page shows the graded notebook"
    page.close()
