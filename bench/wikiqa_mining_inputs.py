"""WikiQA as mining inputs: its questions as queries, all its sentences as the corpus.

Reads WikiQA-{train,dev,test}.txt (question<TAB>sentence<TAB>label) from --data_dir and
writes into --out_dir: corpus.tsv (every distinct sentence of the three splits, ids s0,
s1, ...), queries.tsv (the --split's distinct questions with a correct sentence, ids q0,
q1, ...) and positives.tsv (query_id<TAB>sentence_id for each label-1 row).

  python bench/wikiqa_mining_inputs.py --data_dir=path/to/WikiQACorpus --out_dir=runs/wikiqa-mining
"""

import argparse
import os


def read_rows(path):
  with open(path, encoding="utf-8") as f:
    for line in f:
      fields = line.rstrip("\n").split("\t")
      if len(fields) == 3:
        yield fields[0].strip(), fields[1].strip(), fields[2].strip() == "1"


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--out_dir", required=True)
  parser.add_argument("--split", default="train")
  args = parser.parse_args()
  sentence_ids, question_ids, positives = {}, {}, []
  for split in ("train", "dev", "test"):
    for question, sentence, label in read_rows(
        os.path.join(args.data_dir, "WikiQA-%s.txt" % split)):
      sentence_ids.setdefault(sentence, "s%d" % len(sentence_ids))
      if split == args.split and label:
        question_ids.setdefault(question, "q%d" % len(question_ids))
        positives.append((question_ids[question], sentence_ids[sentence]))
  os.makedirs(args.out_dir, exist_ok=True)
  for name, lines in (
      ("corpus.tsv", ("%s\t%s\n" % (i, s) for s, i in sentence_ids.items())),
      ("queries.tsv", ("%s\t%s\n" % (i, q) for q, i in question_ids.items())),
      ("positives.tsv", ("%s\t%s\n" % pair for pair in sorted(set(positives))))):
    with open(os.path.join(args.out_dir, name), "w", encoding="utf-8") as f:
      f.writelines(lines)
  print("%d sentences, %d %s questions with %d positives: %s" % (
      len(sentence_ids), len(question_ids), args.split, len(set(positives)), args.out_dir))


if __name__ == "__main__":
  main()
