"""The pieces of the asv report check (tools/check_asv_report.py) that need no browser
(the browser run is documented in docs/benchmarks.md and not part of CI: Chromium is not
installed there)."""

from __future__ import annotations

import numpy as np
from matplotlib import pyplot as plt

from tools import check_asv_report as check

PAGE = """<html><head>
<script src="https://cdn.x/jquery-3.3.1.min.js" integrity="{jq}" crossorigin="x"></script>
<script src="https://cdn.x/jquery.flot.min.js" integrity="sha512-notsame" onerror="f()"></script>
<script src="https://cdn.x/other/unknown.js"></script>
<a href="https://github.com/airspeed-velocity/asv/">asv</a>
</head></html>"""


def test_cdn_links_point_to_local_copies_and_keep_only_matching_hashes(tmp_path):
    (tmp_path / "jquery-3.3.1.min.js").write_bytes(b"jquery bytes")
    (tmp_path / "jquery.flot.min.js").write_bytes(b"flot bytes")
    page = PAGE.format(jq=check._sri(b"jquery bytes", "sha256"))
    local, unknown = check.localise(page, tmp_path)
    assert (
        f'src="_vendor/jquery-3.3.1.min.js" integrity="{check._sri(b"jquery bytes", "sha256")}"'
        in (local)
    )
    assert 'src="_vendor/jquery.flot.min.js"' in local and "notsame" not in local
    assert 'onerror="f()"' in local  # a missing local file still shows asv's error page
    assert unknown == ["https://cdn.x/other/unknown.js"]
    assert 'href="https://github.com/airspeed-velocity/asv/"' in local  # not a script: kept


def test_every_cdn_file_of_asv_index_html_has_an_offline_copy(tmp_path):
    from importlib.resources import files

    for name in check.OFFLINE_ASSETS:
        (tmp_path / name).write_bytes(b"")
    index = files("asv").joinpath("www", "index.html").read_text()
    local, unknown = check.localise(index, tmp_path)
    assert unknown == []
    assert local.count('="_vendor/') == len(check.OFFLINE_ASSETS)


def test_blank_and_drawn_screenshots_are_told_apart(tmp_path):
    blank, drawn = tmp_path / "blank.png", tmp_path / "drawn.png"
    plt.imsave(blank, np.ones((90, 140, 3)))
    image = np.ones((90, 140, 3))
    image[20:70, 10:130] = [0.2, 0.4, 0.8]
    plt.imsave(drawn, image)
    assert check.non_white_fraction(blank) == 0.0
    assert abs(check.non_white_fraction(drawn) - 50 * 120 / (90 * 140)) < 1e-6
