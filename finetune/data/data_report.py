"""The data report: what is in each split a run reads, before anything is trained.

For each split (one object in data_report.json, one log line), from its texts and
labels:
  rows; labels: per class (get_labels() order) its count and share, or for scores
    min, max, mean and a 10-bin histogram;
  duplicate_pairs: distinct pairs (the same two texts, in either order) that occur more
    than once; duplicate_rows: the rows beyond the first of each; duplicate_pairs_
    disagreeing: the duplicate pairs whose rows carry more than one label;
  pairs_in_train (dev and test): rows whose pair also stands in train, in either order;
  empty_texts: rows whose text_a or text_b is empty or only whitespace;
and from the pass that writes its records (length_summary, kept with the records' cache
key so that reused records are reported without tokenizing again):
  token_lengths of `[CLS] a [SEP] b [SEP]` before truncation (p50, p90, p99, max);
  cut_pairs, cut_share, tokens_lost at --max_seq_length.
Then warnings, one line each, and the suggested --max_seq_length: the smallest multiple
of 8 that keeps 99 % of the pairs of each split whole, capped by the model's
max_position_embeddings.

Texts are compared after their whitespace is normalized (stripped, each run of
whitespace one space): case, accents and punctuation count. A pair is a 64-bit hash of
its two normalized texts in sorted order, so 1,000,000 pairs take 8 MB; two different
pairs share a hash with a chance of about n^2 / 2^65 (3e-8 for a million pairs).
Lengths are counted up to count_limit tokens of each sentence (the model's
max_position_embeddings): a longer sentence is counted as that many, so the pair's
length and the tokens it loses are lower bounds ("at least"), and a 10 MB line is still
read only as far as those tokens need.
"""

import json
import math

from absl import logging
import numpy as np

from common import files
from finetune.data import list_report
import tokenization

REPORT_FILE = "data_report.json"
FORMAT_VERSION = 1
PERCENTILES = (50, 90, 99)
KEEP_SHARE = 0.99  # the share of pairs the suggested max_seq_length keeps whole
LENGTH_MULTIPLE = 8
HISTOGRAM_BINS = 10
# Warnings: this share of a split's pairs cut, or a class below this share of its split.
CUT_WARNING_SHARE = 0.05
RARE_CLASS_SHARE = 0.01
PLACES_SHOWN = 5  # places listed per finding in the JSON


def nearest_rank(sorted_values, percent):
  """The smallest value that at least `percent` % of sorted_values do not exceed."""
  if not len(sorted_values):
    return 0
  rank = max(int(math.ceil(percent / 100.0 * len(sorted_values))), 1)
  return int(sorted_values[rank - 1])


def length_summary(lengths, at_least, max_seq_length, count_limit):
  """The JSON-able summary of one split's untruncated pair lengths.

  Args:
    lengths: int [n] tokens of each pair before truncation ([CLS] and [SEP] included);
      -1 for a PaddingInputExample, which is left out.
    at_least: bool [n], True where the length is a lower bound (a sentence reached
      count_limit tokens).
    max_seq_length: the run's; pairs longer than it are cut.
    count_limit: how far each sentence's tokens were counted (stored, so that a reused
      summary is known to be counted the same way).
  Returns:
    {"count_limit", "pairs", "p50", "p90", "p99", "max", "mean", "at_least",
     "cut_pairs", "tokens_lost"}: lengths and tokens lost in tokens.
  """
  real = np.asarray(lengths) >= 0
  values = np.asarray(lengths)[real]
  ordered = np.sort(values)
  cut = values > max_seq_length
  summary = {"count_limit": int(count_limit), "pairs": int(len(values))}
  for percent in PERCENTILES:
    summary["p%d" % percent] = nearest_rank(ordered, percent)
  summary.update(
      max=int(ordered[-1]) if len(ordered) else 0,
      mean=round(float(np.mean(values, dtype=np.float64)), 2) if len(values) else 0.0,
      at_least=int(np.count_nonzero(np.asarray(at_least)[real])),
      cut_pairs=int(np.count_nonzero(cut)),
      tokens_lost=int(np.sum(values[cut] - max_seq_length, dtype=np.int64)))
  return summary


def suggested_max_seq_length(p99, max_position_embeddings):
  """The smallest multiple of 8 >= p99 (tokens), but no more than the model's positions."""
  return min(int(math.ceil(p99 / LENGTH_MULTIPLE)) * LENGTH_MULTIPLE,
             max_position_embeddings)


def _normalized(text):
  """A text with its whitespace normalized (stripped, runs of whitespace one space)."""
  if not isinstance(text, str):
    text = tokenization.convert_to_unicode(text)
  return " ".join(text.split())


def text_facts(examples):
  """(keys int64 [n], rows with an empty text_a, rows with an empty text_b).

  keys[i] is a 64-bit hash of example i's pair, the same for (a, b) and (b, a); the
  rows are lists of indices. Hashes are Python's, salted per process: compare them
  within one run only.
  """
  keys = np.empty([len(examples)], np.int64)
  empty_a, empty_b = [], []
  for i, example in enumerate(examples):
    a = _normalized(example.text_a)
    if not a:
      empty_a.append(i)
    if example.text_b is None:
      keys[i] = hash((a,))
      continue
    b = _normalized(example.text_b)
    if not b:
      empty_b.append(i)
    keys[i] = hash((a, b) if a <= b else (b, a))
  return keys, empty_a, empty_b


def place(example):
  """Where an example was read: "path:line", else its guid."""
  path, line = getattr(example, "path", None), getattr(example, "line", None)
  if path and line:
    return "%s:%d" % (path, line)
  return str(path or example.guid)


class Groups:
  """The rows of one split grouped by pair key (numpy, no dict of strings).

  order: int32 [n], the rows sorted by key, each group in row order; sorted_keys: int64
  [n]; starts: int32 [groups], where each group begins in `order`; sizes: int32
  [groups]. About 21 bytes a row.
  """

  def __init__(self, keys):
    self.order = np.argsort(keys, kind="stable").astype(np.int32)
    self.sorted_keys = keys[self.order]
    first = np.ones([len(keys)], bool)
    np.not_equal(self.sorted_keys[1:], self.sorted_keys[:-1], out=first[1:])
    self.starts = np.flatnonzero(first).astype(np.int32)
    del first
    self.sizes = np.diff(self.starts, append=np.int32(len(keys))).astype(np.int32)

  def rows(self, group):
    start = self.starts[group]
    return self.order[start:start + self.sizes[group]]

  def find(self, keys):
    """Row (in this split) of each key's first occurrence, or -1 where it is absent."""
    if not len(self.sorted_keys):
      return np.full([len(keys)], -1)
    at = np.minimum(np.searchsorted(self.sorted_keys, keys), len(self.sorted_keys) - 1)
    return np.where(self.sorted_keys[at] == keys, self.order[at], -1)


def disagreeing(groups, chosen, values, labelled):
  """The groups among `chosen` (indices) whose labelled rows carry more than one label.

  Only the rows of the chosen groups are looked at (the repeated pairs: few, as a rule).
  """
  sizes = groups.sizes[chosen].astype(np.int64)
  group = np.repeat(np.arange(len(chosen)), sizes)
  # The position in `order` of each row of the chosen groups.
  offsets = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
  rows = groups.order[np.repeat(groups.starts[chosen].astype(np.int64), sizes) + offsets]
  keep = labelled[rows]
  group, value = group[keep], values[rows[keep]]
  by_label = np.lexsort((value, group))  # rows sorted by group, then label
  group, value = group[by_label], value[by_label]
  new = np.ones([len(group)], bool)
  new[1:] = (group[1:] != group[:-1]) | (value[1:] != value[:-1])
  labels_per_group = np.bincount(group[new], minlength=len(chosen))
  return chosen[labels_per_group > 1]


def _label_text(value, class_names):
  return class_names[int(value)] if class_names is not None else "%g" % value


def _round(value, digits=4):
  return float(round(float(value), digits))


def label_summary(values, labelled, class_names, score_range):
  """The labels of one split: per class, or for scores min, max, mean and a histogram.

  Args:
    values: class ids int [n] (class_names given) or scores float [n] in the user's
      units; labelled: bool [n], False for a test row without a label.
    score_range: (low, high) of the histogram's 10 bins.
  Returns None when no row has a label.
  """
  if not labelled.all():
    values = values[labelled]
  if not len(values):
    return None
  if class_names is not None:
    counts = np.bincount(values.astype(np.int64), minlength=len(class_names))
    return {"kind": "classes", "labelled": int(len(values)),
            "classes": [{"label": name, "count": int(count),
                         "share": _round(count / len(values))}
                        for name, count in zip(class_names, counts)]}
  counts, edges = histogram(values, *score_range)
  return {"kind": "scores", "labelled": int(len(values)), "min": _round(np.min(values), 6),
          "max": _round(np.max(values), 6), "mean": _round(np.mean(values), 6),
          "histogram": {"edges": edges, "counts": counts}}


def histogram(values, low, high, bins=HISTOGRAM_BINS):
  """(counts [bins], edges [bins + 1]) of `values` over [low, high], as lists.

  Each bin holds [edge, next edge), the last also `high`. A value on an edge goes to
  the bin it opens even when floating point puts it a hair below (0.3 * 10 is not 3):
  a score of 0.3 counts in 0.3..0.4. With low == high, one unit wide.
  """
  span = (high - low) or 1.0
  position = np.asarray(values, np.float64) - low  # a copy, then changed in place
  position *= bins / span
  position += 1e-9
  np.floor(position, out=position)
  np.clip(position, 0, bins - 1, out=position)
  counts = np.bincount(position.astype(np.int32), minlength=bins)
  edges = [_round(low + span * k / bins, 6) for k in range(bins + 1)]
  return [int(count) for count in counts], edges


class SplitInput:
  """What the report needs of one split.

  name: "train", "dev" or "test"; examples: its InputExamples; values, labelled: as
  label_summary takes them; lengths: its length_summary; source: the file it was read
  from, or None.
  """

  def __init__(self, name, examples, values, labelled, lengths, source=None):
    self.name, self.examples, self.source = name, examples, source
    self.values, self.labelled, self.lengths = values, labelled, lengths


def split_input(split, task, lengths):
  """The SplitInput of an examples.Split read for `task`, with its length_summary.

  Class ids for classification; for regression the scores in the user's units (the
  label range mapped back).
  """
  labelled = np.fromiter((example.label is not None for example in split.examples), bool,
                         count=len(split.examples))
  if task.describe()["task"] == "classification":
    values = np.asarray(split.labels, np.int64)
  else:
    values = np.asarray(task.to_label_units(split.labels), np.float64)
  return SplitInput(split.name, split.examples, values, labelled, lengths,
                    getattr(split, "source", None))


def label_space(task):
  """(class names or None, score_range or None) of a task, as build_report takes them.

  Scores are binned over --label_min..--label_max when given, 0..1 for the sigmoid
  head, else (None) over the scores read.
  """
  description = task.describe()
  if description["task"] == "classification":
    return list(description["labels"]), None
  if description["label_min"] is not None:
    return None, (description["label_min"], description["label_max"])
  return None, ((0.0, 1.0) if description["use_sigmoid_act"] else None)


def _split_report(split, train, train_groups, class_names, score_range,
                  max_position_embeddings):
  """(one split's object of data_report.json (see the module docstring), its Groups).

  train, train_groups: the train split and its Groups, or None when train is not read.
  """
  keys, empty_a, empty_b = text_facts(split.examples)
  groups = Groups(keys)
  examples = split.examples
  lengths = split.lengths
  rows = len(examples)
  repeated = np.flatnonzero(groups.sizes > 1)
  conflicting = disagreeing(groups, repeated, split.values, split.labelled)

  def shown_groups(chosen):
    """Up to PLACES_SHOWN groups, in the order of their first rows, as text."""
    chosen = chosen[np.argsort(groups.order[groups.starts[chosen]], kind="stable")]
    return [" = ".join(
        place(examples[row]) + (" (%s)" % _label_text(split.values[row], class_names)
                                if split.labelled[row] else "")
        for row in groups.rows(group)[:3]) for group in chosen[:PLACES_SHOWN]]

  report = {
      "source": split.source,
      "rows": rows,
      "labels": label_summary(split.values, split.labelled, class_names, score_range),
      "token_lengths": {key: lengths[key] for key in
                        ("p50", "p90", "p99", "max", "mean", "at_least")},
      "cut_pairs": lengths["cut_pairs"],
      "cut_share": _round(lengths["cut_pairs"] / max(rows, 1)),
      "tokens_lost": lengths["tokens_lost"],
      "tokens_lost_is_lower_bound": lengths["at_least"] > 0,
      "suggested_max_seq_length": suggested_max_seq_length(lengths["p99"],
                                                           max_position_embeddings),
      "duplicate_pairs": int(len(repeated)),
      "duplicate_rows": int(rows - len(groups.starts)),
      "duplicate_pairs_disagreeing": int(len(conflicting)),
  }
  places = {"duplicate_pairs": shown_groups(repeated),
            "duplicate_pairs_disagreeing": shown_groups(conflicting)}
  if split.name != "train":
    if train is None:
      report["pairs_in_train"] = None  # train was not read
    else:
      found = train_groups.find(keys)
      del keys
      in_train = np.flatnonzero(found >= 0)
      report["pairs_in_train"] = int(len(in_train))
      places["pairs_in_train"] = ["%s = %s" % (place(examples[row]),
                                               place(train.examples[found[row]]))
                                  for row in in_train[:PLACES_SHOWN]]
  if list_report.is_ranking(examples):
    report["lists"] = list_report.list_facts(
        examples, lengths["cut_pairs"], train.examples if train is not None else None)
  report["empty_texts"] = {"text_a": len(empty_a), "text_b": len(empty_b)}
  places["empty_texts"] = [place(examples[row]) for row in
                           sorted(set(empty_a) | set(empty_b))[:PLACES_SHOWN]]
  report["places"] = places
  return report, groups


def build_report(splits, *, class_names, score_range, settings, max_seq_length,
                 max_position_embeddings):
  """The whole report (the content of data_report.json) as a dict.

  Args:
    splits: SplitInputs in the order train, dev, test (those read).
    class_names: get_labels() for classification, else None.
    score_range: (low, high) of the score histograms, or None for the range of the
      scores of every split (classification: ignored).
    settings: what the report was computed with, written as given (task, files, casing).
    max_seq_length, max_position_embeddings: the run's and the model's, in tokens.
  """
  if class_names is None and score_range is None:
    labelled = [split.values[split.labelled] for split in splits]
    values = np.concatenate(labelled) if labelled else np.zeros([0])
    score_range = (float(np.min(values)), float(np.max(values))) if len(values) else (0, 1)
  train = next((split for split in splits if split.name == "train"), None)
  reports, train_groups = {}, None
  if train is not None:  # first: the other splits look their pairs up in it
    reports["train"], train_groups = _split_report(train, None, None, class_names,
                                                   score_range, max_position_embeddings)
  for split in splits:
    if split is not train:
      reports[split.name], _ = _split_report(split, train, train_groups, class_names,
                                             score_range, max_position_embeddings)
  report = {"format_version": FORMAT_VERSION, "settings": dict(settings),
            "splits": {split.name: reports[split.name] for split in splits}}
  report["suggested_max_seq_length"] = max(
      [split["suggested_max_seq_length"] for split in report["splits"].values()] or
      [max_seq_length])
  report["warnings"] = warnings_of(report, max_seq_length, max_position_embeddings)
  return report


def _count(number):
  return "{:,}".format(number)


def _percent(share):
  return "%.1f %%" % (100.0 * share)


def warnings_of(report, max_seq_length, max_position_embeddings):
  """One line for each finding worth a person's attention, naming what to do."""
  lines = []
  for name, split in report["splits"].items():
    if "lists" in split:
      lines.extend(list_report.list_warnings(name, split["lists"], max_seq_length,
                                             split["suggested_max_seq_length"]))
    rows = split["rows"]
    if split["cut_share"] >= CUT_WARNING_SHARE:
      lengths = split["token_lengths"]
      cut = "%s: %s of pairs (%s) are cut at --max_seq_length=%d" % (
          name, _percent(split["cut_share"]), _count(split["cut_pairs"]), max_seq_length)
      if lengths["p99"] <= max_position_embeddings:
        lines.append("%s; 99 %% fit in %d: try --max_seq_length=%d" % (
            cut, lengths["p99"], split["suggested_max_seq_length"]))
      elif max_seq_length < max_position_embeddings:
        lines.append("%s; 99 %% fit only in %s%d, beyond the model's %d positions: try "
                     "--max_seq_length=%d and shorten the longest texts" % (
                         cut, "at least " if lengths["at_least"] else "", lengths["p99"],
                         max_position_embeddings, max_position_embeddings))
      else:
        lines.append("%s, the model's longest; 99 %% fit only in %s%d: shorten or split "
                     "the longest texts" % (cut, "at least " if lengths["at_least"] else "",
                                            lengths["p99"]))
    in_train = split.get("pairs_in_train")
    if in_train:
      lines.append("%s: %s of %s pairs (%s) also stand in train (either order), e.g. %s: "
                   "its figures will be optimistic; drop them from %s or from train" % (
                       name, _count(in_train), _count(rows), _percent(in_train / rows),
                       split["places"]["pairs_in_train"][0], name))
    if split["duplicate_pairs_disagreeing"]:
      lines.append("%s: %s pair(s) occur more than once with different labels, e.g. %s: "
                   "correct their labels or keep one row of each" % (
                       name, _count(split["duplicate_pairs_disagreeing"]),
                       split["places"]["duplicate_pairs_disagreeing"][0]))
    labels = split["labels"]
    if labels and labels["kind"] == "classes" and name in ("train", "dev"):
      for entry in labels["classes"]:
        if entry["count"] / labels["labelled"] >= RARE_CLASS_SHARE:
          continue
        advice = ("too few to learn it well: add pairs of it or weight it "
                  "(--class_weights=balanced)" if name == "train" else
                  "its figures on %s rest on %s pair(s)" % (name, _count(entry["count"])))
        lines.append("%s: class %s has %s of %s pairs (%s): %s" % (
            name, entry["label"], _count(entry["count"]), _count(labels["labelled"]),
            _percent(entry["count"] / labels["labelled"]), advice))
    empty = split["empty_texts"]
    if empty["text_a"] or empty["text_b"]:
      lines.append("%s: empty or whitespace-only texts (text_a: %s, text_b: %s), e.g. %s: "
                   "fix or drop those rows" % (name, _count(empty["text_a"]),
                                                _count(empty["text_b"]),
                                                split["places"]["empty_texts"][0]))
  return lines


def _labels_line(labels):
  if labels is None:
    return "no labels"
  if labels["kind"] == "classes":
    return "labels " + ", ".join("%s %s" % (entry["label"], _percent(entry["share"]))
                                 for entry in labels["classes"])
  return "scores %g..%g, mean %.3g" % (labels["min"], labels["max"], labels["mean"])


def split_line(name, split, max_seq_length):
  """The log line of one split's report."""
  lengths = split["token_lengths"]
  at_least = "at least " if split["tokens_lost_is_lower_bound"] else ""
  parts = [
      "%s pairs" % _count(split["rows"]), _labels_line(split["labels"]),
      "tokens p50 %d, p90 %d, p99 %d, max %s%d" % (lengths["p50"], lengths["p90"],
                                                   lengths["p99"], at_least, lengths["max"]),
      "cut at --max_seq_length=%d: %s (%s), %s%s tokens lost" % (
          max_seq_length, _count(split["cut_pairs"]), _percent(split["cut_share"]),
          at_least, _count(split["tokens_lost"])),
      "%s duplicate pairs (%s with different labels)" % (
          _count(split["duplicate_pairs"]), _count(split["duplicate_pairs_disagreeing"]))]
  if split.get("pairs_in_train") is not None:
    parts.append("%s in train" % _count(split["pairs_in_train"]))
  empty = split["empty_texts"]
  parts.append("%s empty texts" % _count(empty["text_a"] + empty["text_b"]))
  return "data report, %s: %s" % (name, "; ".join(parts))


def log_report(report, max_seq_length, path=None):
  """Logs one line per split, one warning per finding, and the suggestion."""
  for name, split in report["splits"].items():
    logging.info("%s", split_line(name, split, max_seq_length))
  for line in report["warnings"]:
    logging.warning("data report: %s", line)
  logging.info("data report: suggested --max_seq_length=%d (the smallest multiple of %d "
               "that keeps 99 %% of the pairs of each split whole, at most the model's "
               "positions); now %d%s", report["suggested_max_seq_length"], LENGTH_MULTIPLE,
               max_seq_length, "; written to %s" % path if path else "")


def write_report(path, report):
  """Writes the report as JSON to `path`, whole or not at all."""
  files.write_text_atomically(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
