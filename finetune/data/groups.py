"""Training rows for list losses: a query's candidates in groups of a fixed size.

The train records of a list loss are whole groups, one after another: `group_size`
consecutive records per group, short groups filled with padding examples
(is_real_example = 0, which the loss masks out). The input pipeline keeps each group
together (input_fn.py, group_size) and the head reads a batch as [groups, group_size].

  listwise  one group per relevant candidate: it, then group_size - 1 of its query's
            non-relevant candidates (grade 0) drawn without replacement (all of them when
            there are fewer). Queries with no relevant or no non-relevant candidate give
            no group: a softmax over them teaches nothing.
  lambda    a query's candidates in a seeded random order, cut into groups of at most
            group_size; groups whose candidates all share one grade are left out (no
            pair to order).

Draws come from a numpy RandomState of `seed` (0 when there is none), so the same
command writes the same records.
"""

import collections
import dataclasses

import numpy as np

from finetune.data.features import PaddingInputExample


@dataclasses.dataclass
class Arranged:
  """The rows of the train records and what became of the split's candidates."""
  examples: list
  labels: list
  groups: int
  queries_used: int
  queries_left_out: int
  padding: int


def arrange(examples, labels, group_size, loss, seed=None):
  """Rows (examples, labels) of the train records of a list loss (see the module docstring)."""
  rng = np.random.RandomState(0 if seed is None else seed)
  by_query = collections.OrderedDict()
  for index, example in enumerate(examples):
    by_query.setdefault(example.query_id, []).append(index)
  groups, left_out = [], 0
  for indices in by_query.values():
    made = (_listwise_groups(indices, labels, group_size, rng) if loss == "listwise" else
            _lambda_groups(indices, labels, group_size, rng))
    left_out += not made
    groups.extend(made)
  order = rng.permutation(len(groups))
  rows_examples, rows_labels, padding = [], [], 0
  for group_index in order:
    group = groups[group_index]
    rows_examples.extend(examples[i] for i in group)
    rows_labels.extend(labels[i] for i in group)
    missing = group_size - len(group)
    rows_examples.extend([PaddingInputExample()] * missing)
    rows_labels.extend([0] * missing)
    padding += missing
  return Arranged(rows_examples, rows_labels, len(groups), len(by_query) - left_out,
                  left_out, padding)


def _listwise_groups(indices, labels, group_size, rng):
  relevant = [i for i in indices if labels[i] > 0]
  negatives = [i for i in indices if labels[i] == 0]
  if not relevant or not negatives:
    return []
  groups = []
  for positive in relevant:
    count = min(group_size - 1, len(negatives))
    drawn = rng.choice(len(negatives), size=count, replace=False)
    groups.append([positive] + [negatives[j] for j in sorted(drawn)])
  return groups


def _lambda_groups(indices, labels, group_size, rng):
  shuffled = [indices[j] for j in rng.permutation(len(indices))]
  groups = []
  for start in range(0, len(shuffled), group_size):
    group = shuffled[start:start + group_size]
    if len({labels[i] for i in group}) > 1:
      groups.append(group)
  return groups
