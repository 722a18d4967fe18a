r"""Mines hard negatives: queries, a corpus and known positives in, ranking rows out.

  python mine_negatives.py --queries=queries.tsv --corpus=collection.tsv \
    --positives=qrels.tsv --vocab_file=models/minilm/vocab.txt --output=mined/train.tsv \
    --num_negatives=4 --range_min=3 --range_max=50 --max_score_ratio=0.95

BM25 over the model's WordPiece tokens ranks the corpus for each query; the query's
positives are taken out; ranks [--range_min, --range_max) are the window; --scorer
rescores it with a fine-tuned model; the guard (--max_score_ratio, --margin) drops
candidates scoring too close to the positives; --sampling picks --num_negatives.
Writes query_id<TAB>query<TAB>passage<TAB>label rows and <output>.report.json. An
interrupted run resumes from its last whole chunk. See docs/mining.md.
"""

import dataclasses
import json
from typing import Optional

from absl import logging

from common import checks
from common import cli
from common import settings
from common.settings import setting
from finetune.mining.mining import mine
from finetune.mining.negatives import SAMPLINGS


@dataclasses.dataclass(frozen=True)
class MiningOptions:
  """mine_negatives.py's settings."""
  queries: str = setting(None, "query_id<TAB>text lines.", cli.REQUIRED,
                         checks.ExistingFile("a queries file"), required=True)
  corpus: str = setting(None, "passage_id<TAB>text lines (MS MARCO's collection.tsv too).",
                        cli.REQUIRED, checks.ExistingFile("a corpus file"), required=True)
  positives: str = setting(None, "TREC qrels (query_id 0 passage_id relevance) or "
                           "query_id<TAB>passage_id lines.", cli.REQUIRED,
                           checks.ExistingFile("a positives file"), required=True)
  output: str = setting(None, "The grouped rows to write (query_id<TAB>query<TAB>passage"
                        "<TAB>label).", cli.REQUIRED, checks.NonEmpty(), required=True)
  vocab_file: str = setting(None, "The WordPiece vocabulary BM25 tokenizes with (the "
                            "model's vocab.txt).", cli.REQUIRED,
                            checks.ExistingFile("a vocabulary"), required=True)
  do_lower_case: bool = setting(True, "Lower-case as the vocabulary's model does.", cli.MODEL)
  num_negatives: int = setting(4, "Negatives per query.", cli.RUN, checks.AtLeast(1))
  range_min: int = setting(0, "First rank of the window (0: the best non-positive).",
                           cli.RUN, checks.AtLeast(0))
  range_max: int = setting(100, "End of the window (exclusive); the first stage's depth.",
                           cli.RUN, checks.AtLeast(1))
  max_score_ratio: Optional[float] = setting(
      None, "Guard: drop a candidate scoring above this times the lowest positive's score.",
      cli.RUN, checks.Above(0))
  margin: Optional[float] = setting(
      None, "Guard: drop a candidate scoring above the lowest positive's score minus this.",
      cli.RUN, checks.Finite())
  sampling: str = setting("top", "top (the hardest survivors) or random (seeded).", cli.RUN,
                          checks.OneOf(SAMPLINGS))
  seed: int = setting(0, "Seed of --sampling=random (per query: seed and query id).",
                      cli.RUN, None, unchecked="any integer seeds")
  scorer: Optional[str] = setting(None, "A fine-tuned run folder, SavedModel or ONNX export "
                                  "that rescores the window before the guard.", cli.MODEL,
                                  checks.ExistingFolder("a model folder"))
  scorer_batch_size: int = setting(64, "Pairs per rescoring batch.", cli.SPEED,
                                   checks.AtLeast(1))
  index_dir: Optional[str] = setting(None, "Where the BM25 index is kept (default: "
                                     "<output>.index); reused while the corpus is unchanged.",
                                     cli.OUTPUT, None, unchecked="any folder path")
  with_query_ids: bool = setting(True, "Write the query id as the first column.", cli.OUTPUT)
  chunk_size: int = setting(1000, "Queries per output chunk (what a resumed run redoes at "
                            "most).", cli.OUTPUT, checks.AtLeast(1))


cli.define_flags(MiningOptions)


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  options = cli.options_from_flags(MiningOptions)
  settings.validate(options)
  report = mine(**dataclasses.asdict(options))
  print(json.dumps({key: value for key, value in report.items() if key != "settings"}))


if __name__ == "__main__":
  cli.run_app(main, __doc__)
