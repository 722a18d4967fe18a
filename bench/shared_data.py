"""Where the public data the benchmarks read lives: `data/` in this repository.

STS-B, MRPC and the bert-base-chinese vocabulary are carried in `data/` (data/README.md
says where each file comes from and under which terms), so a clone anywhere has them.
Data the repository does not carry (WikiQA) is given to a bench with its --data_dir.
"""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(REPO, "data")


def shared_data_dir():
  """The repository's data folder (data/)."""
  return DATA_DIR
