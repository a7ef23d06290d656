"""`subsel diverse`: submodular selection over embeddings, diverse segmentations of an image."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from subsel.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(res) -> str:
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


@pytest.fixture()
def emb(tmp_path):
    X = np.random.default_rng(0).normal(size=(80, 4))
    np.save(tmp_path / "emb.npy", X)
    np.savetxt(tmp_path / "emb.csv", X, delimiter=",", header="a,b,c,d", comments="")
    np.save(tmp_path / "rel.npy", np.linspace(0, 3, 80))
    return tmp_path, X


@pytest.mark.parametrize("source,out", [("emb.npy", "sel.parquet"), ("emb.csv", "sel.csv")])
def test_facility_location_matches_the_library(emb, source, out):
    from subsel.submodular import FacilityLocation, maximize

    tmp, X = emb
    res = run("diverse", tmp / source, "--budget", 7, "--out", tmp / out)
    assert res.exit_code == 0, res.output
    if out.endswith(".parquet"):
        table = pq.read_table(tmp / out).to_pydict()
    else:
        rows = np.loadtxt(tmp / out, delimiter=",", skiprows=1, ndmin=2)
        table = {"index": rows[:, 0].astype(int).tolist(), "gain": rows[:, 1]}
    want = maximize(FacilityLocation.from_features(X), 7)
    assert table["index"] == want.indices.tolist()
    np.testing.assert_allclose(table["gain"], want.gains, rtol=1e-6)


def test_relevance_is_added_with_weight_lam(emb):
    from subsel.submodular import FacilityLocation, Modular, maximize

    tmp, X = emb
    rel = np.load(tmp / "rel.npy")
    res = run("diverse", tmp / "emb.npy", "--budget", 6, "--relevance", tmp / "rel.npy",
              "--lam", 20, "--out", tmp / "s.npz")  # fmt: skip
    assert res.exit_code == 0, res.output
    want = maximize(FacilityLocation.from_features(X) + 20.0 * Modular(rel), 6)
    assert np.load(tmp / "s.npz")["index"].tolist() == want.indices.tolist()


@pytest.mark.parametrize(
    "extra", [["--function", "feature-based"], ["--function", "graph-cut"], ["--neighbors", 5]]
)
def test_other_functions(emb, extra):
    tmp, X = emb
    np.save(tmp / "pos.npy", np.abs(X))
    res = run("diverse", tmp / "pos.npy", "--budget", 5, "--out", tmp / "o.csv", *extra)
    assert res.exit_code == 0, res.output
    rows = np.loadtxt(tmp / "o.csv", delimiter=",", skiprows=1, ndmin=2)
    assert rows.shape == (5, 2) and len(set(rows[:, 0])) == 5


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--out", "o.csv"], "needs --budget"),
        (["--budget", 500, "--out", "o.csv"], "--budget must be"),
        (["--budget", 5, "--function", "feature-based", "--out", "o.csv"], "nonnegative"),
        (["--budget", 5, "--relevance", "emb.npy", "--out", "o.csv"], "--relevance has 320"),
        (["--budget", 5, "--metric", "manhattan", "--out", "o.csv"], "--metric must be one of"),
        (["--budget", 5, "--out", "o.txt"], "unsupported file type '.txt'"),
        (["--budget", 5, "--out", "o.csv", "--scribbles", "s.png"], "--scribbles needs an image"),
        (["--budget", 5, "--function", "graph-cut", "--neighbors", 3, "--out", "o.csv"],
         "--neighbors is for --function facility-location"),
        (["--budget", 5, "--function", "magic", "--out", "o.csv"], "Invalid value for '--function'"),
    ],
)  # fmt: skip
def test_embedding_errors_are_one_line(emb, args, needle):
    tmp, _ = emb
    args = [tmp / a if isinstance(a, str) and "." in a and not a.startswith("-") else a
            for a in args]  # fmt: skip
    line = one_error_line(run("diverse", tmp / "emb.npy", *args))
    assert needle in line and "parameter of" not in line
    assert not (tmp / "o.csv").exists()


# ----------------------------------------------------------------------------- images
@pytest.fixture()
def picture(tmp_path):
    """A 20x28 picture: a noisy yellow box on blue; white and red strokes as a user draws them."""
    rng = np.random.default_rng(0)
    img = np.zeros((20, 28, 3)) + (40, 60, 200)
    img[5:15, 7:20] = (230, 200, 40)
    img = np.clip(img + rng.normal(0, 15, img.shape), 0, 255).astype(np.uint8)
    strokes = np.zeros_like(img)
    strokes[9:11, 11:16] = (255, 255, 255)
    strokes[1, :] = (255, 0, 0)
    strokes[:, 1] = (255, 0, 0)
    Image.fromarray(img).save(tmp_path / "img.png")
    Image.fromarray(strokes).save(tmp_path / "scr.png")
    scr = np.full(img.shape[:2], -1)
    scr[9:11, 11:16] = 1
    scr[1, :] = 0
    scr[:, 1] = 0
    return tmp_path, img, scr


@pytest.mark.parametrize(
    "diversity",
    [
        "hamming",
        "hamming_ball",
    ],
)
def test_diverse_masks_written_as_pngs(picture, diversity):
    from subsel.structured import interactive_segmentation

    tmp, img, scr = picture
    out = tmp / "masks"
    res = run("diverse", tmp / "img.png", "--scribbles", tmp / "scr.png", "-M", 3,
              "--diversity", diversity, "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    want = interactive_segmentation(img, scr, M=3, diversity=diversity)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["mask_1.png", "mask_2.png", "mask_3.png", "overview.png"]  # no temp files
    got = np.stack([np.asarray(Image.open(out / f"mask_{i}.png")) for i in (1, 2, 3)])
    assert got.dtype == np.uint8 and set(np.unique(got)) <= {0, 255}
    np.testing.assert_array_equal(got == 255, want)
    assert (got[:, scr == 1] == 255).all() and (got[:, scr == 0] == 0).all()
    assert len({m.tobytes() for m in got}) == 3
    overview = np.asarray(Image.open(out / "overview.png"))
    assert overview.shape == (2 * 20 + 4, 3 * 28 + 2 * 4, 3)  # 4 tiles, 3 a row


def test_scribbles_as_npy(picture):
    tmp, img, scr = picture
    np.save(tmp / "scr.npy", scr)
    res = run("diverse", tmp / "img.png", "--scribbles", tmp / "scr.npy", "-M", 2,
              "--out", tmp / "m")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp / "m").iterdir())[-1] == "overview.png"


def test_a_rerun_with_fewer_masks_removes_the_old_ones(picture):
    tmp, img, scr = picture
    out = tmp / "m"
    out.mkdir()
    for name in ["mask_07.png", "mask_4.png", "notes.txt", "mask_best.png"]:
        (out / name).write_bytes(b"old")
    res = run("diverse", tmp / "img.png", "--scribbles", tmp / "scr.png", "-M", 2, "--out", out)
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["mask_1.png", "mask_2.png", "mask_best.png", "notes.txt", "overview.png"]


def test_image_errors_are_one_line(picture):
    tmp, img, scr = picture
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp / "small.png")
    only_fg = np.zeros_like(img)
    only_fg[3, 3] = (255, 255, 255)
    Image.fromarray(only_fg).save(tmp / "fg.png")
    (tmp / "file").write_text("x")
    cases = [
        ([], "--scribbles FILE"),
        (["--scribbles", tmp / "small.png"], "is 5x5 pixels but the image is 20x28"),
        (["--scribbles", tmp / "fg.png"], "has no background stroke"),
        (["--scribbles", tmp / "scr.png", "-M", 0], "-M must be"),
        (["--scribbles", tmp / "scr.png", "--diversity", "x"], "Invalid value for '--diversity'"),
        (["--scribbles", tmp / "scr.png", "--budget", 3], "--budget and --relevance are for"),
    ]
    for args, needle in cases:
        line = one_error_line(run("diverse", tmp / "img.png", "--out", tmp / "m", *args))
        assert needle in line, (args, line)
    line = one_error_line(run("diverse", tmp / "img.png", "--scribbles", tmp / "scr.png",
                              "--out", tmp / "file"))  # fmt: skip
    assert "exists and is not a folder" in line
    assert not (tmp / "m").exists()


def test_help_shows_both_modes_and_examples():
    res = runner.invoke(app, ["diverse", "--help"])
    assert res.exit_code == 0
    for needle in ["Examples:", "facility-location|feature-based|graph-cut", "hamming_ball",
                   "--scribbles", "-M"]:  # fmt: skip
        assert needle in res.stdout
