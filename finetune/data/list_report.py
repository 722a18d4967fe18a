"""The data report's facts about lists: a ranking split's queries and their candidates.

For a split whose examples carry query ids (processors/ranking.py), data_report.json's
split object gains "lists":
  queries                          queries in the split
  candidates_per_query             min, median, max
  queries_without_relevant         queries none of whose candidates is relevant (grade > 0;
                                   left out of MAP, MRR and nDCG), and those only relevant
                                   (nothing to order)
  candidates_cut                   pairs cut by --max_seq_length: the truncation takes tokens
                                   from the longer side, for a query and its passage the
                                   passage, so these are passages read only in part
  duplicate_candidates             candidates whose passage text is another's of the same
                                   query (they tie, or disagree if labelled differently)
  queries_in_train                 (dev, test) queries whose text is a train query's: the
                                   model may have seen their answers
with a few places of each ("path:line"), and a warning line for the findings worth a
look.
"""

import collections

import numpy as np

PLACES_SHOWN = 3


def _normalized(text):
  return " ".join(str(text or "").lower().split())


def _place(example):
  return "%s:%s" % (example.path, example.line) if example.path else str(example.guid)


def is_ranking(examples):
  return bool(examples) and hasattr(examples[0], "query_id")


def list_facts(examples, cut_pairs, train_examples=None):
  """The "lists" object of one ranking split (see the module docstring)."""
  queries = collections.OrderedDict()
  for example in examples:
    queries.setdefault(example.query_id, []).append(example)
  sizes = np.array([len(rows) for rows in queries.values()])
  without = [rows[0] for rows in queries.values()
             if all(not (e.label or 0) for e in rows) and rows[0].label is not None]
  only_relevant = [rows[0] for rows in queries.values()
                   if all((e.label or 0) > 0 for e in rows)]
  duplicates = []
  for rows in queries.values():
    seen = {}
    for example in rows:
      key = _normalized(example.text_b)
      if key in seen:
        duplicates.append((seen[key], example))
      else:
        seen[key] = example
  facts = {
      "queries": len(queries),
      "candidates_per_query": {"min": int(sizes.min()), "median": float(np.median(sizes)),
                               "max": int(sizes.max())},
      "queries_without_relevant": len(without),
      "queries_only_relevant": len(only_relevant),
      "candidates_cut": int(cut_pairs),
      "duplicate_candidates": len(duplicates),
  }
  places = {"queries_without_relevant": [_place(e) for e in without[:PLACES_SHOWN]],
            "duplicate_candidates": ["%s = %s" % (_place(a), _place(b))
                                     for a, b in duplicates[:PLACES_SHOWN]]}
  if train_examples is not None:
    train_queries = {}
    for example in train_examples:
      train_queries.setdefault(_normalized(example.text_a), example)
    shared = [(rows[0], train_queries[_normalized(rows[0].text_a)])
              for rows in queries.values() if _normalized(rows[0].text_a) in train_queries]
    facts["queries_in_train"] = len(shared)
    places["queries_in_train"] = ["%s = %s" % (_place(a), _place(b))
                                  for a, b in shared[:PLACES_SHOWN]]
  facts["places"] = places
  return facts


def list_warnings(name, facts, max_seq_length, suggested):
  """Warning lines for one split's lists."""
  lines = []
  if facts["queries_without_relevant"]:
    lines.append("%s: %d of %d queries have no relevant candidate: they are counted and "
                 "left out of MAP, MRR and nDCG (e.g. %s)" % (
                     name, facts["queries_without_relevant"], facts["queries"],
                     ", ".join(facts["places"]["queries_without_relevant"])))
  if facts["candidates_cut"]:
    lines.append("%s: %d candidates are cut at --max_seq_length=%d, on the passage side: "
                 "the model reads only their beginning%s" % (
                     name, facts["candidates_cut"], max_seq_length,
                     "; try --max_seq_length=%d" % suggested if suggested > max_seq_length
                     else ""))
  if facts["duplicate_candidates"]:
    lines.append("%s: %d candidates repeat another candidate of their query (e.g. %s)" % (
        name, facts["duplicate_candidates"],
        ", ".join(facts["places"]["duplicate_candidates"])))
  if facts.get("queries_in_train"):
    lines.append("%s: %d of %d queries also stand in train (e.g. %s): their figures may "
                 "flatter the model" % (name, facts["queries_in_train"], facts["queries"],
                                        ", ".join(facts["places"]["queries_in_train"])))
  return lines
