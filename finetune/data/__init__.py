"""A split's rows -> batches the engine reads.

  examples.py            a split's examples through the task's processor (processors/)
  features.py            InputExample -> InputFeatures (BERT's pair layout)
  record_format.py       the TFRecord features of Google's scripts
  fast_serialization.py  the same record bytes written directly (equivalence-tested)
  feature_workers.py     tokenize and serialize in worker processes
  record_cache.py        reuse of a record file whose inputs did not change
  records.py             examples -> a TFRecord file: the stage's one entry point
  input_fn.py            TFRecords -> batches (the input contract of the engines)
  data_report.py         what is in each split, before anything is trained
"""
