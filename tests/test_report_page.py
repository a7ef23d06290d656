"""The demo page as ``make demo`` makes it: built through the command line with a relative
``--out``, from the repository-like folder and from another one; every image and link must work,
and the page must read like results (scorecard first, no None / nan cells, no machine paths).

One test opens the page in headless chromium and checks that every image loaded; it is skipped
where chromium is not installed.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from subsel.cli import app
from subsel.report import ScoreRow, Section, write_report

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SAMPLES = "300"  # keeps the sampling experiment fast; the page is the same otherwise


class _Page(HTMLParser):
    """Collects img sources, link targets, element ids and table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.hrefs: list[str] = []
        self.ids: set[str] = set()
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(index: Path) -> tuple[str, _Page]:
    text = index.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return text, page


def _run_demo(cwd: Path, *args: str) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        result = CliRunner().invoke(app, ["demo", "--samples", SAMPLES, *args])
    assert result.exit_code == 0, result.output
    index = Path(result.stdout.strip().splitlines()[-1])
    assert index.is_file()
    return index


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """(index.html, cwd) built like ``make demo``: in a folder holding benchmarks/results, with
    ``--out demo-report``; and from another folder with a relative ``--out`` and no records."""
    root = tmp_path_factory.mktemp("clone")
    if RESULTS.is_dir():
        shutil.copytree(RESULTS, root / "benchmarks" / "results")
    made = _run_demo(root, "--out", "demo-report")
    assert made == root / "demo-report" / "index.html"
    other = tmp_path_factory.mktemp("elsewhere")
    (other / "work").mkdir()
    bare = _run_demo(other / "work", "--out", "../out/report")
    assert bare.resolve() == (other / "out" / "report" / "index.html").resolve()
    return {"make_demo": (made, root), "elsewhere": (bare, other)}


@pytest.mark.parametrize("which", ["make_demo", "elsewhere"])
def test_every_image_and_link_resolves(pages, which):
    index, _ = pages[which]
    text, page = _parse(index)
    assert len(page.imgs) >= 4
    for src in page.imgs:
        if src.startswith("data:"):
            assert src.startswith("data:image/png;base64,")
            assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
        else:
            assert (index.parent / src).is_file(), src
    assert "Figure not available" not in text
    for href in page.hrefs:
        if href.startswith("#"):
            assert href[1:] in page.ids, href
        else:
            assert not re.match(r"^[a-z]+:", href) or href.startswith("https://"), href
            assert (index.parent / href.split("#")[0]).exists(), href


@pytest.mark.parametrize("which", ["make_demo", "elsewhere"])
def test_page_is_self_contained(pages, which, tmp_path):
    """Moved on its own (mailed, attached), the page still shows every figure."""
    index, _ = pages[which]
    alone = tmp_path / "index.html"
    shutil.copy(index, alone)
    _, page = _parse(alone)
    assert page.imgs and all(src.startswith("data:image/png;base64,") for src in page.imgs)


@pytest.mark.parametrize("which", ["make_demo", "elsewhere"])
def test_page_reads_like_results(pages, which):
    index, cwd = pages[which]
    text, page = _parse(index)
    # Results first: the scorecard comes before the first part.
    assert 0 < text.index('id="scorecard"') < text.index('id="s0"')
    for bad in ("None", "nan", "NaN", "inf"):
        assert bad not in page.cells, f"a table cell reads {bad!r}"
    assert "" not in page.cells and "-" not in page.cells
    for path in {str(cwd), str(cwd.resolve()), str(REPO), str(Path.home())}:
        assert path not in text, f"the page names a machine path: {path}"
    assert "Records from /" not in text


def test_records_feed_the_scorecard(pages):
    if not RESULTS.is_dir():
        pytest.skip("no benchmarks/results in this checkout")
    text, _ = _parse(pages["make_demo"][0])
    assert "No benchmark records found" not in text
    card = text[text.index('id="scorecard"') : text.index('id="s0"')]
    for command in (
        "benchmarks/topk_ops.py",
        "benchmarks/selection_nn.py",
        "benchmarks/structured_segmentation.py",
    ):
        assert command in card
    assert 'class="met"' in card and 'class="short"' in card
    # Full records are there, collapsed.
    assert "<details>" in text and "All 32 speed records" in text


def test_no_records_says_so(pages):
    text, _ = _parse(pages["elsewhere"][0])
    assert "No benchmark records found" in text
    assert "--results DIR" in text


def test_results_option(tmp_path, monkeypatch):
    import subsel.demos

    seen = []
    monkeypatch.setattr(
        subsel.demos, "SECTIONS", [lambda out, **kw: seen.append(kw) or Section("x")]
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    index = _run_demo(tmp_path, "--out", "r", "--results", "empty")
    assert seen[0]["results"] == empty  # made absolute, handed to every section
    assert "No benchmark records found" in index.read_text(encoding="utf-8")
    (empty / "topk_ops.json").write_text("[]")
    index = _run_demo(tmp_path, "--out", "r", "--results", "empty")
    text = index.read_text(encoding="utf-8")
    assert "No benchmark records found" not in text and "topk_ops.json" in text
    assert str(tmp_path) not in text
    result = CliRunner().invoke(
        app, ["demo", "--out", str(tmp_path / "r2"), "--results", str(tmp_path / "missing")]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --results")
    assert not (tmp_path / "r2").exists()


def test_scorecard_interface(tmp_path):
    """A part adds its rows through Section.scorecard; the page groups them by part."""
    sections = [
        Section(
            "Part A", scorecard=[ScoreRow("claim a", "paper a", "ours a", "peer a", True, "x")]
        ),
        Section("Part B", scorecard=[ScoreRow("claim b", "paper b", met=False)]),
        Section("Part C", scorecard=[ScoreRow("claim c", "paper c")]),
        Section("Part D"),
    ]
    text, page = _parse(write_report(sections, tmp_path))
    card = text[text.index('id="scorecard"') : text.index("<h2>Parts")]
    assert card.count('class="part"') == 3 and "Part D" not in card
    assert 'class="met"' in card and 'class="short"' in card and 'class="open"' in card
    assert "1 of 3 headline results met" in card
    assert "None" not in page.cells and "" not in page.cells


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


_CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter((i) => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute("data-images", ok + "/" + imgs.length);
});
</script>"""


@pytest.mark.skipif(
    _chromium() is None, reason="chromium is not installed (apt-get install chromium)"
)
@pytest.mark.parametrize("which", ["make_demo", "elsewhere"])
def test_every_image_loads_in_chromium(pages, which):
    index, _ = pages[which]
    # A copy beside the page, with a script that counts the images the browser decoded.
    probe = index.with_name("browser-check.html")
    probe.write_text(
        index.read_text(encoding="utf-8").replace("</body>", _CHECK + "</body>"), encoding="utf-8"
    )
    try:
        proc = subprocess.run(
            [
                _chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--run-all-compositor-stages-before-draw",
                "--virtual-time-budget=10000",
                "--dump-dom",
                probe.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink()
    found = re.search(r'data-images="(\d+)/(\d+)"', proc.stdout)
    assert found, proc.stderr[-2000:]
    ok, total = map(int, found.groups())
    assert total >= 4 and ok == total, f"{ok} of {total} images loaded"
