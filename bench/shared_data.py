"""Where the workplace's read-only data lives (STS-B, MRPC, the Chinese vocabulary).

Used by the benchmarks and the tests. A clean clone may live anywhere (CI clones
elsewhere), so $SHARED_DATA_DIR comes first, then ../shared/data beside the clone, then
the workplace's fixed path.
"""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_data_dir():
  """The shared data folder; raises FileNotFoundError naming where it looked."""
  candidates = [os.environ.get("SHARED_DATA_DIR"), os.path.join(REPO, "..", "shared", "data"),
                "/work/shared/data"]
  for candidate in candidates:
    if candidate and os.path.isdir(os.path.join(candidate, "stsbenchmark")):
      return os.path.abspath(candidate)
  raise FileNotFoundError("shared data not found in %s; set SHARED_DATA_DIR" %
                          [c for c in candidates if c])
