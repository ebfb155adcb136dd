"""The viewer page in headless Chromium, over datasets as they are written.

Needs Chromium (Debian/Ubuntu: ``apt-get install -y chromium``; elsewhere set
``OME_WRITERS_CHROMIUM`` to a Chromium or Chrome executable) and the
`playwright` package, which drives it. Missing, the tests fail and say so.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.serve import start

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Page

    from ome_writers.serve import ServedDataset

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
MISSING_CHROMIUM = (
    "the viewer page tests need Chromium: install it (Debian/Ubuntu: "
    "`apt-get install -y chromium`) or set OME_WRITERS_CHROMIUM to a Chromium "
    "or Chrome executable"
)
WAIT_MS = 15_000  # a page follows within about a second; margin for busy CI
VIEWPORT = {"width": 1100, "height": 700}


def chromium_executable() -> str:
    """The browser to drive; fails (never skips) when there is none."""
    given = os.environ.get("OME_WRITERS_CHROMIUM")
    for name in (given,) if given else CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(MISSING_CHROMIUM + (f" ({given!r} not found)" if given else ""))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the viewer page tests need playwright: pip install playwright")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go (kept with the test's temporary files)."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    opened.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" else None,
    )
    yield opened
    context.close()
    assert errors == [], errors


def test_without_chromium_the_tests_fail_and_say_why(tmp_path: Path) -> None:
    """A machine without the browser gets a failure naming the fix, not a skip."""
    env = {**os.environ, "OME_WRITERS_CHROMIUM": str(tmp_path / "no-chromium")}
    test = f"{__file__}::test_the_page_needs_the_token"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 1, result.stdout
    assert "apt-get install -y chromium" in result.stdout
    assert "skipped" not in result.stdout


# ------------------------------------------------------------------- the page


@contextlib.contextmanager
def served_page(
    page: Page, root: Path, token: str | None = None
) -> Iterator[ServedDataset]:
    """`root` served, its page open; the page leaves before the server stops
    (a page polling a stopped server logs errors)."""
    with start(root, token=token) as served:
        assert served.page is not None
        page.goto(served.page)
        try:
            yield served
        finally:
            page.goto("about:blank")


def wait_rendered(page: Page, level: int | None = None, **index: int) -> None:
    """Until the canvas shows the plane at `index` (and `level`)."""
    page.wait_for_function(
        """([index, level]) => {
            const r = window.omeViewer && window.omeViewer.state.rendered;
            return !!r && (level === null || r.level === level)
                && Object.entries(index).every(([d, i]) => r.index[d] === i);
        }""",
        arg=[index, level],
        timeout=WAIT_MS,
    )


def shown_image(page: Page) -> np.ndarray:
    """The plane as drawn (before zoom), RGBA, (y, x, 4)."""
    width, height, pixels = page.evaluate(
        """() => {
            const v = window.omeViewer;
            return [v.image.width, v.image.height, v.imagePixels()];
        }"""
    )
    return np.asarray(pixels, "uint8").reshape(height, width, 4)


def set_channel(
    page: Page, channel: int, color: str, window: tuple[float, float]
) -> None:
    row = page.locator(f'#channels .channel[data-channel="{channel}"]')
    row.locator("input.color").fill(color)
    row.locator("input.min").fill(str(window[0]))
    row.locator("input.max").fill(str(window[1]))


def show_one_channel(page: Page, channel: int) -> None:
    page.select_option("#mode", "single")
    page.locator(f'#channels .channel[data-channel="{channel}"] .cname').click()


def grey(frame: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    lo, hi = window
    return np.clip(np.round((frame.astype(float) - lo) * 255 / (hi - lo)), 0, 255)


def assert_rgba_close(image: np.ndarray, expected_rgb: np.ndarray) -> None:
    """`image` (y, x, 4) is opaque and equals `expected_rgb` (y, x, 3) within
    rounding."""
    image = image.astype(int)
    assert image.shape[:2] == expected_rgb.shape[:2]
    assert (image[..., 3] == 255).all()
    difference = np.abs(image[..., :3] - expected_rgb.astype(int))
    assert difference.max() <= 1, f"{(difference > 1).sum()} pixels differ"


def assert_shows(page: Page, expected_rgb: np.ndarray) -> None:
    """The drawn plane equals `expected_rgb` (y, x, 3) within rounding."""
    assert_rgba_close(shown_image(page), expected_rgb)


def grey_rgb(frame: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    return np.repeat(grey(frame, window)[..., None], 3, axis=2)


def assert_grey(page: Page, frame: np.ndarray, window: tuple[float, float]) -> None:
    assert_shows(page, grey_rgb(frame, window))


def displayed(page: Page, height: int, width: int) -> np.ndarray:
    """The visible canvas where the plane lies at 1:1 zoom, RGBA, (y, x, 4)."""
    assert page.evaluate("window.omeViewer.state.zoom") == 1
    left, top = page.evaluate("window.omeViewer.state.offset")
    drawn = page.evaluate(
        """([left, top, w, h]) => Array.from(document.getElementById('view')
            .getContext('2d').getImageData(left, top, w, h).data)""",
        [left, top, width, height],
    )
    return np.asarray(drawn, "uint8").reshape(height, width, 4)


def assert_displayed_grey(
    page: Page, frame: np.ndarray, window: tuple[float, float]
) -> None:
    """The visible canvas, at 1:1 zoom, shows `frame` in grey within rounding."""
    assert_rgba_close(displayed(page, *frame.shape), grey_rgb(frame, window))


def slider(page: Page, dim: str) -> Any:
    return page.locator(f'#dims input[data-dim="{dim}"]')


# ------------------------------------------------------------------- datasets

FRAME = (48, 64)
WINDOW = (0, 4095)


def frames(n_t: int, n_c: int, seed: int = 0) -> np.ndarray:
    """(t, c, y, x) 12-bit frames, a different pattern each."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4096, (n_t, n_c, *FRAME)).astype("uint16")


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
def test_the_page_follows_an_acquisition(
    suffix: str, tmp_path: Path, page: Page, shots: Path
) -> None:
    """The latest frame shows as it is written; ranges grow; complete at close."""
    data = frames(5, 2)
    root = tmp_path / f"live{suffix}"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=None, type="time", chunk_size=1),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=FRAME[0], type="space"),
            Dimension(name="x", count=FRAME[1], type="space"),
        ],
        dtype="uint16",
        loss_window=0.2,
    )
    with create_stream(settings) as stream:
        for frame in data[:2].reshape(-1, *FRAME):
            stream.append(frame)
        with served_page(page, root):
            wait_rendered(page, t=1)
            show_one_channel(page, 0)
            set_channel(page, 0, "#ffffff", WINDOW)
            wait_rendered(page, t=1, c=0)
            assert_grey(page, data[1, 0], WINDOW)
            page.click("#zoom-one")  # the visible canvas holds the plane itself
            assert_displayed_grey(page, data[1, 0], WINDOW)
            assert page.locator("#state").inner_text().lower() == "writing"
            assert page.locator("#title").inner_text() == root.name
            page.screenshot(path=shots / f"writing{suffix}.png")

            for frame in data[2:].reshape(-1, *FRAME):
                stream.append(frame)
            # the t range grows to 5 and the page follows to the last time point
            page.wait_for_function(
                """() => document.querySelector('#dims input[data-dim="t"]').max
                    === "4" """,
                timeout=WAIT_MS,
            )
            wait_rendered(page, t=4, c=0)
            page.wait_for_function(
                "() => window.omeViewer.state.rendered.key.endsWith('5,2,48,64')",
                timeout=WAIT_MS,
            )
            assert_grey(page, data[4, 0], WINDOW)
            assert_displayed_grey(page, data[4, 0], WINDOW)
            t_row = page.locator("#dims .dim", has=page.locator('input[data-dim="t"]'))
            assert t_row.inner_text().split() == [
                "t",
                "4",
                "/",
                "4",
            ]
            stream.close()
            page.wait_for_function(
                "() => document.querySelector('#state').textContent === 'complete'",
                timeout=WAIT_MS,
            )
            assert_grey(page, data[4, 0], WINDOW)
            page.screenshot(path=shots / f"complete{suffix}.png")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A finished OME-Zarr (p, t, c, y, x): two named positions."""
    rng = np.random.default_rng(3)
    data = rng.integers(0, 4096, (2, 3, 2, *FRAME)).astype("uint16")
    root = tmp_path_factory.mktemp("finished") / "done.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="p", type="position", coords=["well-A1", "well-B2"]),
            Dimension(name="t", count=3, type="time"),
            Dimension(name="c", type="channel", coords=["DAPI", "FITC"]),
            Dimension(name="y", count=FRAME[0], type="space"),
            Dimension(name="x", count=FRAME[1], type="space"),
        ],
        dtype="uint16",
    )
    with create_stream(settings) as stream:
        for frame in data.reshape(-1, *FRAME):
            stream.append(frame)
    return root, data


def test_sliders_choose_the_plane(
    finished: tuple[Path, np.ndarray], page: Page, shots: Path
) -> None:
    root, data = finished
    with served_page(page, root):
        wait_rendered(page, p=0, t=2)  # following: the last time point
        assert page.locator("#state").inner_text().lower() == "complete"
        show_one_channel(page, 1)
        set_channel(page, 1, "#ffffff", WINDOW)
        wait_rendered(page, p=0, t=2, c=1)
        assert_grey(page, data[0, 2, 1], WINDOW)

        slider(page, "t").focus()
        page.keyboard.press("ArrowLeft")  # a time point back: following stops
        wait_rendered(page, p=0, t=1, c=1)
        assert_grey(page, data[0, 1, 1], WINDOW)
        assert not page.locator("#follow").is_checked()

        slider(page, "p").focus()
        page.keyboard.press("ArrowRight")
        wait_rendered(page, p=1, t=1, c=1)
        assert_grey(page, data[1, 1, 1], WINDOW)
        p_row = page.locator("#dims .dim").first
        assert "well-B2" in p_row.inner_text()

        slider(page, "c").focus()
        page.keyboard.press("ArrowLeft")
        wait_rendered(page, p=1, t=1, c=0)
        set_channel(page, 0, "#ffffff", WINDOW)
        assert_grey(page, data[1, 1, 0], WINDOW)
        assert "DAPI" in page.locator("#dims .dim").nth(2).inner_text()
        page.screenshot(path=shots / "single-channel.png")


def test_composite_adds_the_visible_channels(
    finished: tuple[Path, np.ndarray], page: Page, shots: Path
) -> None:
    root, data = finished
    with served_page(page, root):
        wait_rendered(page, p=0, t=2)
        set_channel(page, 0, "#ff0000", WINDOW)
        set_channel(page, 1, "#00ff00", WINDOW)
        expected = np.zeros((*FRAME, 3))
        expected[..., 0] = grey(data[0, 2, 0], WINDOW)
        expected[..., 1] = grey(data[0, 2, 1], WINDOW)
        assert_shows(page, expected)
        page.screenshot(path=shots / "composite.png")

        # magenta over green: red and blue from one channel, green from the other
        set_channel(page, 0, "#ff00ff", WINDOW)
        expected[..., 2] = expected[..., 0]
        assert_shows(page, expected)

        page.locator('#channels .channel[data-channel="1"] input.visible').uncheck()
        page.wait_for_function(
            "() => window.omeViewer.state.rendered.channels.length === 1",
            timeout=WAIT_MS,
        )
        expected[..., 1] = 0
        assert_shows(page, expected)


def test_one_to_one_zoom_draws_the_plane_and_reads_pixels(
    finished: tuple[Path, np.ndarray], page: Page
) -> None:
    """At 1:1 the canvas holds the plane itself; the read-out names the value."""
    root, data = finished
    with served_page(page, root):
        wait_rendered(page, p=0, t=2)
        show_one_channel(page, 0)
        set_channel(page, 0, "#ffffff", WINDOW)
        page.click("#zoom-one")
        assert_displayed_grey(page, data[0, 2, 0], WINDOW)
        left, top = page.evaluate("window.omeViewer.state.offset")

        box = page.locator("#view").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + left + 10.5, box["y"] + top + 5.5)
        readout = page.locator("#pixel").inner_text()
        value = str(data[0, 2, 0, 5, 10])
        assert readout.split() == ["x", "10", "y", "5", "DAPI", value]

        # dragging pans: the same pixel follows the pointer
        page.mouse.down()
        page.mouse.move(box["x"] + left + 40.5, box["y"] + top + 25.5, steps=4)
        page.mouse.up()
        assert page.evaluate("window.omeViewer.state.offset") == [left + 30, top + 20]
        assert page.locator("#pixel").inner_text().split()[:4] == ["x", "10", "y", "5"]


@pytest.mark.parametrize(
    ("dtype", "window"),
    [("uint8", (0, 255)), ("int16", (-2000, 2000)), ("float32", (0, 1))],
)
def test_pixel_types_are_windowed(
    dtype: str, window: tuple[int, int], tmp_path: Path, page: Page
) -> None:
    info = np.iinfo(dtype) if dtype != "float32" else None
    rng = np.random.default_rng(5)
    if info is None:
        frame = rng.random(FRAME).astype(dtype)
    else:
        frame = rng.integers(info.min, int(info.max) + 1, FRAME).astype(dtype)
    root = tmp_path / f"{dtype}.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="y", count=FRAME[0], type="space"),
            Dimension(name="x", count=FRAME[1], type="space"),
        ],
        dtype=dtype,
    )
    with create_stream(settings) as stream:
        stream.append(frame)
    with served_page(page, root):
        wait_rendered(page)
        set_channel(page, 0, "#ffffff", window)
        assert_grey(page, frame, window)


def test_zoom_picks_the_pyramid_level(tmp_path: Path, page: Page, shots: Path) -> None:
    """Zoomed out, the page reads a reduced level (what zarr-python reads there)."""
    import zarr

    yy, xx = np.mgrid[0:512, 0:512]
    frame = ((xx // 32 + yy // 32) % 2 * 3000 + xx * 2).astype("uint16")
    root = tmp_path / "levels.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="t", count=1, type="time"),
            Dimension(name="y", count=512, type="space"),
            Dimension(name="x", count=512, type="space"),
        ],
        dtype="uint16",
        pyramid=3,
    )
    with create_stream(settings) as stream:
        stream.append(frame)
    group = zarr.open_group(root, mode="r")
    paths = [d["path"] for d in group.attrs["ome"]["multiscales"][0]["datasets"]]
    with served_page(page, root):
        set_channel(page, 0, "#ffffff", (0, 4095))
        wait_rendered(page, level=0, t=0)
        assert_grey(page, frame, (0, 4095))
        for level, clicks in ((1, 2), (2, 1)):
            for _ in range(clicks):
                page.click("#zoom-out")
            wait_rendered(page, level=level, t=0)
            reduced = np.asarray(zarr.open_array(root / paths[level], mode="r")[0])
            assert reduced.shape == (512 >> level, 512 >> level)
            assert_grey(page, reduced, (0, 4095))
            status = page.locator("#status").inner_text()
            assert f"level {level} of 0–2 (1:{2**level})" in status
        page.screenshot(path=shots / "level-2.png")
        page.click("#zoom-fit")
        wait_rendered(page, level=0, t=0)
        # the wheel zooms around the pointer: 1.25 x e^-1.5 reads level 1
        box = page.locator("#view").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + 200, box["y"] + 200)
        page.mouse.wheel(0, 1000)
        wait_rendered(page, level=1, t=0)
        assert 0.25 < page.evaluate("window.omeViewer.state.zoom") < 0.3


def test_the_page_needs_the_token(
    finished: tuple[Path, np.ndarray], page: Page
) -> None:
    root, data = finished
    with served_page(page, root, token="s3cret-token") as served:
        assert served.page is not None
        assert served.page.endswith("/?token=s3cret-token")
        reply = page.request.get(served.page.partition("?")[0])
        assert reply.status == 401
        wait_rendered(page, p=0, t=2)
        info = json.loads(
            page.evaluate(
                """async () => JSON.stringify(await (await fetch('_viewer/info',
                    {headers: {Authorization: 'Bearer s3cret-token'}})).json())"""
            )
        )
        assert info["shape"] == list(data.shape)


def channel_settings(page: Page) -> list[tuple[str, float, float]]:
    """Each channel row's colour, display minimum and maximum."""
    rows = page.locator("#channels .channel")
    out = []
    for i in range(rows.count()):
        row = rows.nth(i)
        out.append(
            (
                row.locator("input.color").input_value(),
                float(row.locator("input.min").input_value()),
                float(row.locator("input.max").input_value()),
            )
        )
    return out


def test_channels_start_as_the_metadata_says(
    finished: tuple[Path, np.ndarray], page: Page
) -> None:
    """Colours and windows of the NGFF ``omero`` block (of the first position,
    where the page starts), read by zarr-python."""
    import zarr

    root, _ = finished
    image = zarr.open_group(root / "well-A1", mode="r")
    omero = image.attrs["ome"]["omero"]["channels"]
    expected = [
        ("#" + c["color"].lower(), c["window"]["start"], c["window"]["end"])
        for c in omero
    ]
    assert [c for c, _, _ in expected] == ["#0000ff", "#00ff00"]  # DAPI, FITC
    with served_page(page, root):
        wait_rendered(page, p=0, t=2)
        assert channel_settings(page) == expected


def test_channels_of_one_colour_get_distinct_ones(tmp_path: Path, page: Page) -> None:
    """Channels named nothing a colour is known for are all white in the
    metadata: composited, they are shown green and magenta instead."""
    root = tmp_path / "plain.ome.zarr"
    settings = AcquisitionSettings(
        root_path=str(root),
        dimensions=[
            Dimension(name="c", type="channel", coords=["first", "second"]),
            Dimension(name="y", count=FRAME[0], type="space"),
            Dimension(name="x", count=FRAME[1], type="space"),
        ],
        dtype="uint16",
    )
    data = frames(1, 2)[0]
    with create_stream(settings) as stream:
        for frame in data:
            stream.append(frame)
    with served_page(page, root):
        wait_rendered(page)
        colours = [c for c, _, _ in channel_settings(page)]
        assert colours == ["#00ff00", "#ff00ff"]
