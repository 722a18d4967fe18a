"""The shared fine-tuning pipeline of run_reg.py and run_classifier.py.

examples (processors/) -> features.py -> records.py (TFRecords) -> input_fn.py ->
model_fn.py (BERT + a task's head, tasks.py) -> estimator.py -> outputs.py,
orchestrated by pipeline.py from the options that flags.py reads.
"""
