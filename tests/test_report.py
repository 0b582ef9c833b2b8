"""`archsweep report` (one offline HTML page about a sweep dataset), checked for its numbers, its
escaping and that it loads nothing from elsewhere — also in a headless Chromium, which must log
no console error and make no network request — and golden files of the text tables
(`analyze`, `pareto`, `top`) compared exactly (`pytest --update-golden` rewrites them)."""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import GOLDEN, golden_diff

import archsweep
from archsweep.cli import main
from archsweep.report import medians

ROOT = Path(__file__).resolve().parents[1]
VGG_SPACE = ROOT / "data" / "spaces" / "vgg.toml"
VGG16 = ROOT / "data" / "models" / "vgg16.toml"
FRONT = ["params", "macs", "peak_activation_bytes"]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """``vgg``: 3,000 sampled variants of data/spaces/vgg.toml (seed 7, sampler 1; all valid).
    ``small``: the same space at resolutions 8-64, where every 8 and 16 fails at a pool (half the
    rows invalid), swept with a ``where`` holding HTML's special characters.

    Sampler 1: the golden tables were made from this sample before sampler 2 existed, so they
    also check that sampler 1 still draws exactly the variants it drew then."""
    base = tmp_path_factory.mktemp("report")
    archsweep.sweep_to_dataset(archsweep.Space.load(VGG_SPACE), sample=3000, seed=7, sampler=1, out=base / "vgg", chunk_rows=1000)
    spec = archsweep.Space.load(VGG_SPACE).spec
    spec["name"] = "vgg <small> & co"
    spec["variables"]["res"] = [8, 16, 32, 64]
    archsweep.sweep_to_dataset(archsweep.Space(spec), sample=2000, seed=3, out=base / "small", where="res < 100")
    return base


@pytest.fixture(scope="module")
def page(datasets):
    return archsweep.sweep_report(datasets / "vgg")


def test_report_states_the_dataset_numbers(datasets, page):
    df = archsweep.scan(datasets / "vgg").collect()
    valid = df.filter(pl.col("valid"))
    assert "4,728,477,974,528 variants" in page  # 7 × (4 × 11 × 4)^5 × 4, the spec's own comment
    assert "random sample of 3,000 variants, seed 7, sampler 1" in page
    assert re.search(r"<td>valid</td><td>3,000 \(100\.0 %\)</td>", page)
    assert "No invalid variants." in page
    for c in ("params", "macs", "peak_activation_bytes", "train_bytes"):
        assert f"{valid[c].min():,}" in page and f"{valid[c].max():,}" in page
    assert f"{int(valid['params'].median()):,}" in page  # 3,000 rows: the median of an even count
    front = archsweep.pareto(valid, minimize=FRONT)
    assert f"<p>{front.height:,} rows, sorted by params, macs, peak_activation_bytes.</p>" in page
    first = front.row(0, named=True)
    row = re.search(r"<tr><td[^>]*>" + re.escape(f"{first['params']:,}") + r" .*?</tr>", page).group(0)
    assert f"{first['macs']:,}" in row and f"<td class=\"n\">{first['variant_id']}</td>" in row
    assert page.count('<img src="data:image/png;base64,') == 2
    assert '"name": "vgg"' in page  # the spec


@pytest.mark.parametrize("n", [1, 2, 3, 10, 1001, 5000])
def test_medians_in_bounded_memory_equal_polars_median(n):
    rng = np.random.default_rng(n)
    df = pl.DataFrame({
        "wide": (10 ** rng.uniform(0, 12, n)).astype(np.uint64),  # 12 decades, nearly all distinct
        "ties": rng.integers(0, 5, n).astype(np.uint64),          # few values: the middle ranks share a bin
        "same": np.full(n, 7, np.uint64),
        "signed": rng.integers(-1000, 1000, n),
    })
    stats = {f"{c}:{k}": getattr(df[c], k)() for c in df.columns for k in ("min", "max")}
    assert medians(df.lazy(), stats, df.columns, n) == {c: df[c].median() for c in df.columns}


def test_report_counts_invalid_rows_and_their_reasons(datasets):
    page = archsweep.sweep_report(datasets / "small")
    df = archsweep.scan(datasets / "small").collect()
    invalid = df.filter(~pl.col("valid"))
    assert invalid.height > 0 and df.height == 2000
    assert f"<td>invalid</td><td>{invalid.height:,} ({100 * invalid.height / 2000:.1f} %)</td>" in page
    reasons = invalid.group_by("error").len().sort(["len", "error"], descending=[True, False])
    top_error, top_count = reasons.row(0)
    assert f"<td class=\"n\">{top_count:,}</td>" in page
    assert top_error in page and "output size is too small" in top_error
    assert f"{reasons.height:,} distinct messages over {invalid.height:,} invalid rows" in page


def test_report_escapes_text_and_loads_nothing(datasets, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(datasets / "small"), "-o", str(out)]) == 0
    page = out.read_text()
    assert "vgg &lt;small&gt; &amp; co" in page and "<small>" not in page
    assert "kept only rows where res &lt; 100" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for ref in re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page):
        assert ref.startswith("data:"), ref
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # atomic: no temporary left
    assert "wrote" in capsys.readouterr().err


def test_report_of_invalid_rows_only(tmp_path):
    spec = archsweep.Space.load(VGG_SPACE).spec
    spec["variables"]["res"] = [8, 16]  # every variant fails at a pool
    archsweep.sweep_to_dataset(archsweep.Space(spec), sample=200, seed=1, out=tmp_path / "bad")
    page = archsweep.sweep_report(tmp_path / "bad")
    assert "<td>invalid</td><td>200 (100.0 %)</td>" in page
    assert "None: no statistics, plots or Pareto front." in page and "<img" not in page


def test_report_errors_are_clean(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing"), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "no such sweep directory" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


# --------------------------------------------------------------------------------------------
# The page in a real browser: Chromium, headless, driven over the DevTools protocol through
# --remote-debugging-pipe (JSON messages ending in NUL on fds 3 and 4: no websocket library).


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def need_chromium() -> str:
    path = chromium()
    if path is None:
        if os.environ.get("ARCHSWEEP_REQUIRE_BROWSER") == "1":
            pytest.fail("ARCHSWEEP_REQUIRE_BROWSER=1 but no chromium binary on PATH (apt-get install chromium)")
        pytest.skip("no chromium binary (set ARCHSWEEP_REQUIRE_BROWSER=1 to make this a failure)")
    return path


class Browser:
    """One headless Chromium and one page; ``load(url)`` returns what the page did."""

    def __init__(self, binary: str, profile: Path, width: int = 1400, height: int = 3000):
        import fcntl  # POSIX, like the pipe handover; imported here so the other tests run anywhere

        cmd_r, cmd_w = os.pipe()   # we write commands, the browser reads them on its fd 3
        res_r, res_w = os.pipe()   # the browser writes replies and events on its fd 4

        def fds_3_and_4():
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(res_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-pipe",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=fds_3_and_4,
        )
        os.close(cmd_r)
        os.close(res_w)
        self.w, self.r = cmd_w, res_r
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []
        self.size = (width, height)
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.r], [], [], left)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: bool = False, timeout: float = 30, **params) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._read(deadline))

    def load(self, url: str, settle: float = 0.5) -> dict:
        """Navigate, wait for the load event (and ``settle`` seconds more); return the console
        errors, uncaught exceptions, requests, failed requests, the images' decoded sizes and a
        PNG screenshot."""
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            try:
                self.events.append(self._read(deadline))
            except TimeoutError:
                break
        images = json.loads(self.call("Runtime.evaluate", session=True, returnByValue=True, expression=(
            "JSON.stringify([...document.images].map(i => ({complete: i.complete, w: i.naturalWidth, h: i.naturalHeight,"
            " box: (r => [r.x, r.y, r.width, r.height])(i.getBoundingClientRect())})))"))["result"]["value"])
        shot = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        by = {}
        for e in self.events:
            by.setdefault(e.get("method"), []).append(e.get("params", {}))
        return {
            "console_errors": [a for a in by.get("Runtime.consoleAPICalled", []) if a.get("type") in ("error", "assert")]
                              + [e["entry"] for e in by.get("Log.entryAdded", []) if e["entry"].get("level") == "error"],
            "exceptions": by.get("Runtime.exceptionThrown", []),
            "requests": [r["request"]["url"] for r in by.get("Network.requestWillBeSent", [])],
            "failed": by.get("Network.loadingFailed", []),
            "images": images,
            "screenshot": base64.b64decode(shot),
        }

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(need_chromium(), tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def test_report_in_headless_chromium(datasets, browser, tmp_path):
    from matplotlib.image import imread

    out = tmp_path / "report.html"
    archsweep.sweep_report(datasets / "small", out)
    seen = browser.load(out.as_uri())
    assert seen["console_errors"] == [] and seen["exceptions"] == []
    assert seen["failed"] == []
    assert all(u == out.as_uri() or u.startswith("data:") for u in seen["requests"]), seen["requests"]
    assert len(seen["images"]) == 2 and all(i["complete"] and i["w"] > 600 for i in seen["images"])
    shot = tmp_path / "report.png"
    shot.write_bytes(seen["screenshot"])
    if os.environ.get("ARCHSWEEP_SCREENSHOT"):  # keep a copy to look at
        shutil.copy(shot, os.environ["ARCHSWEEP_SCREENSHOT"])
    img = imread(shot)
    assert img.shape[:2] == (browser.size[1], browser.size[0])
    x, y, w, h = (int(v) for v in seen["images"][0]["box"])
    plot = (img[y:y + h, x:x + w, :3] * 255).round().astype(np.uint8)
    assert plot.shape[0] > 100 and plot.shape[1] > 300  # on screen, inside the screenshot
    assert len(np.unique(plot.reshape(-1, 3), axis=0)) > 100  # the colour map was drawn


def test_the_browser_check_sees_errors_and_requests(browser, tmp_path):
    # the harness itself: a page that logs an error, throws, and fetches from elsewhere is caught
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="https://archsweep.invalid/x.png">'
                   '<script>console.error("boom"); undefined_function();</script></body></html>')
    seen = browser.load(bad.as_uri(), settle=1.0)
    assert any("boom" in json.dumps(e) for e in seen["console_errors"])
    assert seen["exceptions"]
    assert "https://archsweep.invalid/x.png" in seen["requests"]


# --------------------------------------------------------------------------------------------
# Golden files: the text tables, at a fixed width (COLUMNS=140 for analyze; pareto, top and
# query print 240 columns when not on a terminal), from the working directory so paths are
# relative. A changed number, column or unit fails with a diff.


@pytest.fixture
def fixed_terminal(monkeypatch, datasets):
    monkeypatch.setenv("COLUMNS", "140")
    monkeypatch.chdir(datasets)


def cli_out(capsys, *args) -> str:
    assert main([str(a) for a in args]) == 0
    return capsys.readouterr().out


def test_golden_analyze_vgg16(fixed_terminal, golden, capsys):
    golden("analyze_vgg16.txt", cli_out(capsys, "analyze", VGG16))


def test_golden_pareto_table_and_csv(fixed_terminal, golden, capsys):
    golden("pareto_vgg.txt", cli_out(capsys, "pareto", "vgg", "--minimize", "params,macs"))
    golden("pareto_vgg.csv", cli_out(capsys, "pareto", "vgg", "--minimize", ",".join(FRONT), "--format", "csv"))


def test_golden_top_table(fixed_terminal, golden, capsys):
    golden("top_vgg.txt", cli_out(capsys, "top", "vgg", "--by", "macs", "-k", "5", "--where", "res >= 160"))


def test_golden_detects_a_changed_number(fixed_terminal, capsys):
    text = (GOLDEN / "analyze_vgg16.txt").read_text(encoding="utf-8")
    assert "138,357,544" in text and not golden_diff("analyze_vgg16.txt", text, text)
    diff = golden_diff("analyze_vgg16.txt", text, text.replace("138,357,544", "138,357,545", 1))
    assert "-│ params" in diff and "+│ params" in diff and "138,357,545" in diff
    # the same model at batch 2 (activations and MACs double) does not match
    assert golden_diff("analyze_vgg16.txt", text, cli_out(capsys, "analyze", VGG16, "--batch", "2"))
