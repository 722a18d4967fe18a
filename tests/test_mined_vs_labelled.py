"""bench/mined_vs_labelled.py's pure part: mined rows as a WikiQA-format folder."""

import os

from bench import mined_vs_labelled
from processors import ranking

WIKIQA = os.path.join(os.path.dirname(__file__), "fixtures", "wikiqa")


def test_mined_rows_read_back_as_wikiqa_training_lists(tmp_path):
  release = tmp_path / "release"
  release.mkdir()
  for name in ("WikiQA-test.txt", "WikiQA-test.ref", "WikiQA-test-filtered.ref"):
    (release / name).write_bytes(open(os.path.join(WIKIQA, name), "rb").read())
  mined = tmp_path / "train.tsv"
  mined.write_text("q0\thow are caves formed ?\tA cave is formed .\t1\n"
                   "q0\thow are caves formed ?\tCaves are dark .\t0\n"
                   "q7\twho wrote it ?\tShe wrote it .\t1\n"
                   "q7\twho wrote it ?\tIt rained .\t0\n"
                   "q7\twho wrote it ?\tHe read it .\t0\n", encoding="utf-8")
  out, queries, pairs = mined_vs_labelled.mined_as_wikiqa(
      str(mined), str(release), str(tmp_path / "data"))
  assert (queries, pairs) == (2, 5)
  processor = ranking.WikiqaProcessor()
  train = processor.get_train_examples(out)
  assert [(e.query_id, e.doc_id, e.label) for e in train] == [
      ("q0", "0", 1), ("q0", "1", 0), ("q7", "0", 1), ("q7", "1", 0), ("q7", "2", 0)]
  assert train[4].text_a == "who wrote it ?" and train[4].text_b == "He read it ."
  # dev is absent from this release: nothing linked for it; test is the release's own
  assert not os.path.lexists(os.path.join(out, "WikiQA-dev.txt"))
  test = processor.get_test_examples(out)
  assert [(e.query_id, e.doc_id) for e in test] == [
      (e.query_id, e.doc_id) for e in processor.get_test_examples(str(release))]
  assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
