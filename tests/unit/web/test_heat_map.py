"""The team x team heat map of the Network page."""

from __future__ import annotations

import math
import re

from teampulse.web.charts import CHAR_W, heat_map


def test_every_count_is_written_in_its_cell_and_the_last_slanted_label_fits() -> None:
    names = ["atlas", "customer-care-tundra"]
    svg = heat_map(names, {("atlas", "customer-care-tundra"): 7}, "Replies between teams")

    width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))  # type: ignore[union-attr]
    last = re.findall(r'<text x="([\d.]+)" y="[\d.]+"[^>]*rotate\(-60', svg)[-1]
    reach = float(last) + len(names[-1]) * CHAR_W * math.cos(math.radians(60))
    assert reach <= width
    assert ">7</text>" in svg
