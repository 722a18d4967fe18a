"""The shared fine-tuning pipeline of run_reg.py and run_classifier.py.

pipeline.py runs the stages, each in a file of its own:
  options.py       every setting, its default and its check
  model_inputs.py  bert_config.json, vocab.txt and checkpoints, checked together
  examples.py      a split's examples through the task's processor (processors/)
  training.py      the steps, the train calls, evaluation while training
                   (best_checkpoint.py keeps the best and decides when to stop)
  records.py       examples -> a TFRecord file (features.py, feature_workers.py,
                   fast_serialization.py = record_format.py's bytes, record_cache.py)
  input_fn.py      TFRecords -> batches (the input contract of the engines)
  model_fn.py      BERT + the task's head (tasks.py) -> ModelSpec (the model contract)
  engines/         what trains and predicts: estimator.py, session.py (the seam:
                   engines/__init__.py)
  prediction.py    a split through the engine, outputs in input order
  evaluation.py    dev metrics of a checkpoint
  monitors.py      progress, throughput and the divergence guard (progress.py,
                   divergence.py), handed to the engine as one object
  distribution.py  replicas: one device, mirrored, multi-worker, TPU cores
  outputs.py       eval_results.txt, test_results.tsv, TensorBoard eval scalars
  export.py        model_info.json and the SavedModel; predictor.py serves predict.py
  cli.py           the two scripts' flags and main
"""
