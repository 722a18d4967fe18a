"""The command line of run_reg.py and run_classifier.py: their flags and their main.

The flags are the settings of options.RunOptions (Google's names and defaults) and of
the script's head options (tasks.RegressionOptions or tasks.ClassificationOptions).
"""

import os
import platform
import sys

from absl import flags
from absl import logging

from common import cli
from common import settings
from finetune import options as options_lib


def define_run_flags(head_options_class, defaults=None, flag_values=flags.FLAGS):
  """Defines the flags of a run and of the script's head.

  Args:
    head_options_class: the head's options dataclass.
    defaults: {flag: value} where the script's default differs from the declared one.
  """
  defaults = dict(defaults or {})
  head_names = {field.name for field in settings.settings_of(head_options_class)}
  cli.define_flags(options_lib.RunOptions,
                   {name: value for name, value in defaults.items() if name not in head_names},
                   flag_values)
  cli.define_flags(head_options_class,
                   {name: value for name, value in defaults.items() if name in head_names},
                   flag_values)


def main(make_task, head_options_class, flag_values=flags.FLAGS):
  """Runs the pipeline for the task `make_task(processor, head_options)` builds."""
  import tensorflow as tf

  from finetune import pipeline
  import processors
  logging.set_verbosity(logging.INFO)
  tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
  # TensorFlow's logger has a handler of its own besides absl's: every line came twice.
  tf.get_logger().handlers = []
  logging.info("%s: TensorFlow %s, Python %s", os.path.basename(sys.argv[0]),
               tf.__version__, platform.python_version())
  run_options = cli.options_from_flags(options_lib.RunOptions, flag_values)
  head_options = cli.options_from_flags(head_options_class, flag_values)
  options_lib.validate(run_options)
  settings.validate(head_options)
  processor = processors.get_processor(run_options.data.task_name)
  task = make_task(processor, head_options)
  pipeline.run(task, processor, run_options)


def run(make_task, head_options_class, description, flag_values=flags.FLAGS):
  """The script's entry: parses flags (grouped --help), runs main, one line per mistake."""
  cli.run_app(lambda argv: main(make_task, head_options_class, flag_values), description,
              flag_values)
