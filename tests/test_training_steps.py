"""The planned step count: Google's int(examples / batch * epochs), without rounding errors.

An epoch count written to give N steps gives N, however floating point rounds the
product; a count truly below N still truncates, as in Google's scripts.
"""

import pytest

from finetune.options import TrainingOptions
from finetune.training.loop import training_steps
from finetune.training.loop import whole_steps


def test_a_product_a_rounding_error_below_an_integer_counts_as_it():
  product = 100 / 2 * 4.64
  assert product < 232 and int(product) == 231  # what Google's truncation gives
  assert whole_steps(product) == 232
  assert whole_steps(231.5) == 231 and whole_steps(231.999) == 231
  assert whole_steps(232.0) == 232 and whole_steps(0.9999999999999) == 1
  assert whole_steps(0.5) == 0


@pytest.mark.parametrize("num_examples,batch_size", [(100, 2), (100, 8), (5749, 32)])
def test_every_epoch_count_written_for_n_steps_gives_n_steps(num_examples, batch_size):
  short_under_truncation = 0
  for steps in range(1, 2000):
    epochs = float("%g" % (steps * batch_size / num_examples))
    if float("%r" % (steps * batch_size / num_examples)) != epochs:
      continue  # %g lost digits: not an epoch count that asks for exactly `steps`
    options = TrainingOptions(train_batch_size=batch_size, num_train_epochs=epochs,
                              warmup_proportion=0.1)
    planned, warmup = training_steps(num_examples, options)
    assert planned == steps, epochs
    assert warmup == whole_steps(steps * 0.1)
    short_under_truncation += int(num_examples / batch_size * epochs) != steps
  if (num_examples, batch_size) == (100, 2):
    assert short_under_truncation > 30  # the cases the old count got wrong


def test_warmup_a_rounding_error_below_an_integer_counts_as_it():
  assert int(100 * 0.29) == 28  # 28.999999999999996
  options = TrainingOptions(train_batch_size=1, num_train_epochs=1.0, warmup_proportion=0.29)
  assert training_steps(100, options) == (100, 29)
