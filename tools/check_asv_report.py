"""Check asv's HTML report in a real browser: served on localhost, rendered by headless Chromium.

    asv publish
    python tools/check_asv_report.py --out docs/figures/asv

The report is a JavaScript page that draws itself from ``index.json``; a file that exists
can still render blank (a script error, a missing graph file). So this check loads it the
way a reader does and fails (exit 1, one line per problem) unless:

- the summary page's rendered DOM names most of the benchmarks listed in ``index.json``;
- a benchmark's graph page names that benchmark and draws its plot;
- each screenshot (PNG) has the expected size and is not blank (enough non-white pixels).

Needs Chromium (Debian: ``apt-get install -y chromium``). It is started with a fresh
profile and no background networking: otherwise it can hang on network lookups here.

asv's page loads jQuery, flot, bootstrap and friends from public CDNs, so on a machine
without internet it shows only "Can not determine continental origin of swallow". With
``--offline-assets DIR`` the check serves a copy of the report whose CDN links point to local
copies of the same packages, fetched once into DIR with ``npm pack`` (see `OFFLINE_ASSETS`);
a file's ``integrity`` hash is kept where the local copy is byte-identical to the CDN's.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

WINDOW = (1400, 900)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
    "--virtual-time-budget=20000",  # let the page's scripts fetch JSON and draw
]
#: Default graph page: learned env steps per second of every variant (one env per batch),
#: on a log scale so that 50 k and 20 M steps/s both show (asv's URL state after ``?``).
DEFAULT_GRAPH = "bench_training.TrainingThroughput.track_steps_per_s?y-axis-scale=log"


#: Local copies of the CDN files asv 0.6's index.html loads: file name -> (npm package,
#: file in its tarball). flot 0.8.3 is on npm unminified only and stupidtable 1.0.1 not at
#: all (1.1.3 has the same API): their integrity hashes are dropped.
OFFLINE_ASSETS = {
    "jquery-3.3.1.min.js": ("jquery@3.3.1", "package/dist/jquery.min.js"),
    "jquery.flot.min.js": ("flot@0.8.3", "package/jquery.flot.js"),
    "jquery.flot.time.min.js": ("flot@0.8.3", "package/jquery.flot.time.js"),
    "jquery.flot.selection.min.js": ("flot@0.8.3", "package/jquery.flot.selection.js"),
    "jquery.flot.categories.min.js": ("flot@0.8.3", "package/jquery.flot.categories.js"),
    "jquery.flot.orderBars.js": ("flot-orderbars@1.0.0", "package/js/jquery.flot.orderBars.js"),
    "stupidtable.min.js": ("stupid-table-plugin@1.1.3", "package/stupidtable.min.js"),
    "md5.min.js": ("blueimp-md5@2.19.0", "package/js/md5.min.js"),
    "bootstrap.min.js": ("bootstrap@3.1.1", "package/dist/js/bootstrap.min.js"),
    "bootstrap.min.css": ("bootstrap@3.1.1", "package/dist/css/bootstrap.min.css"),
}
_EXTERNAL = re.compile(r'(src|href)="(https://[^"]+)"([^>]*)>')


def fetch_offline_assets(directory: Path) -> None:
    """Fill `directory` with `OFFLINE_ASSETS` (``npm pack`` once per package, then cached)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, (package, member) in OFFLINE_ASSETS.items():
        if (directory / name).is_file():
            continue
        tarball = directory / (package.replace("@", "-") + ".tgz")
        if not tarball.is_file():
            out = subprocess.run(
                ["npm", "pack", "--silent", package],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            ).stdout.split()[-1]
            (directory / out).rename(tarball)
        with tarfile.open(tarball) as tar:
            (directory / name).write_bytes(tar.extractfile(member).read())


def _sri(data: bytes, algorithm: str) -> str:
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def localise(index_html: str, assets: Path) -> tuple[str, list[str]]:
    """`index_html` with CDN links pointing to ``_vendor/``; also the links it cannot serve."""
    unknown = []

    def swap(match: re.Match) -> str:
        attr, url, rest = match.groups()
        name = url.rsplit("/", 1)[-1]
        if not (assets / name).is_file():
            if url.endswith((".js", ".css")):
                unknown.append(url)
            return match.group(0)
        data = (assets / name).read_bytes()
        integrity = re.search(r'integrity="(sha\d+)-[^"]+"', rest)
        if integrity and f'integrity="{_sri(data, integrity.group(1))}"' not in rest:
            rest = rest.replace(integrity.group(0), "")
        return f'{attr}="_vendor/{name}"{rest}>'

    return _EXTERNAL.sub(swap, index_html), unknown


def offline_copy(html: Path, assets: Path, into: Path) -> list[str]:
    """Copy the report into `into` with local CDN files; returns links left unserved."""
    shutil.copytree(html, into, dirs_exist_ok=True)
    shutil.copytree(assets, into / "_vendor", dirs_exist_ok=True)
    page, unknown = localise((html / "index.html").read_text(), assets)
    (into / "index.html").write_text(page)
    return unknown


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` on a free localhost port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("check_asv_report: no Chromium found; install it: apt-get install -y chromium")


def chromium(browser: str, url: str, *args: str, timeout: float = 120) -> str:
    """Run headless Chromium on `url` with a fresh profile; returns its stdout."""
    with tempfile.TemporaryDirectory(prefix="dcrl_chromium_") as profile:
        proc = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed on {url}: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def non_white_fraction(png: Path) -> float:
    """Share of pixels that are not (near) white: 0 for a blank page."""
    import matplotlib.image

    pixels = matplotlib.image.imread(png)[..., :3]
    return float(np.mean(pixels.min(axis=-1) < 0.9))


def check_page(
    browser: str,
    url: str,
    png: Path,
    must_show: list[str],
    min_shown: int,
    min_ink: float,
    min_tick_labels: int = 0,
) -> list[str]:
    """Render `url`; return what is wrong with it (empty when it passes)."""
    problems = []
    dom = chromium(browser, url, "--dump-dom")
    # flot writes axis tick labels as HTML only when a plot has data to scale its axes to
    ticks = dom.count("flot-tick-label")
    if ticks < min_tick_labels:
        problems.append(f"{url}: the plot has no data ({ticks} axis tick labels drawn)")
    shown = [name for name in must_show if name in dom]
    if len(shown) < min_shown:
        problems.append(
            f"{url}: the rendered page names {len(shown)} of {len(must_show)} expected "
            f"benchmarks (need {min_shown}); missing e.g. {sorted(set(must_show) - set(shown))[:3]}"
        )
    chromium(browser, url, f"--screenshot={png}")
    if not png.is_file():
        return [*problems, f"{url}: no screenshot written to {png}"]
    import matplotlib.image

    height, width = matplotlib.image.imread(png).shape[:2]
    ink = non_white_fraction(png)
    if (width, height) != WINDOW:
        problems.append(f"{png}: {width}x{height} pixels, expected {WINDOW[0]}x{WINDOW[1]}")
    if ink < min_ink:
        problems.append(f"{png}: looks blank ({ink:.2%} non-white pixels, need {min_ink:.0%})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/check_asv_report.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--html", type=Path, default=Path(".asv/html"), help="asv's html_dir")
    parser.add_argument("--out", type=Path, default=Path("docs/figures/asv"), help="PNG folder")
    parser.add_argument(
        "--graph", default=DEFAULT_GRAPH, help="benchmark whose graph to show [?asv URL state]"
    )
    parser.add_argument(
        "--offline-assets",
        type=Path,
        help="serve asv's CDN files from local copies kept in this folder (no internet)",
    )
    args = parser.parse_args(argv)
    index_json = args.html / "index.json"
    if not index_json.is_file():
        print(f"check_asv_report: {index_json} not found; run `asv publish` first", file=sys.stderr)
        return 1
    benchmarks = sorted(json.loads(index_json.read_text())["benchmarks"])
    graph_name = args.graph.split("?", 1)[0]
    if graph_name not in benchmarks:
        print(
            f"check_asv_report: --graph={graph_name} is not in the report: "
            f"allowed are {', '.join(benchmarks)}",
            file=sys.stderr,
        )
        return 1
    browser = find_chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    # asv's summary grid titles each plot with the name without its module
    short_names = [b.split(".", 1)[-1] for b in benchmarks]
    problems = []
    served = args.html
    if args.offline_assets:
        fetch_offline_assets(args.offline_assets)
        served = Path(tempfile.mkdtemp(prefix="dcrl_asv_html_"))
        problems += [
            f"no offline copy of {url}"
            for url in offline_copy(args.html, args.offline_assets, served)
        ]
    with serve(served) as base:
        problems += check_page(
            browser,
            f"{base}/index.html",
            args.out / "summary.png",
            must_show=short_names,
            min_shown=max(1, len(short_names) // 2),
            min_ink=0.02,
        )
        problems += check_page(
            browser,
            f"{base}/index.html#{args.graph}",
            args.out / "graph.png",
            must_show=[graph_name],
            min_shown=1,
            min_ink=0.02,
            min_tick_labels=4,
        )
    if served != args.html:
        shutil.rmtree(served, ignore_errors=True)
    for problem in problems:
        print(f"check_asv_report: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"asv report OK: {len(benchmarks)} benchmarks; screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
