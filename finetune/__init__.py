"""The shared fine-tuning pipeline of run_reg.py and run_classifier.py, in stage packages.

Where a reader looks first:
  cli.py        the two scripts' flags and main
  options.py    every setting, its default and its check
  pipeline.py   the run, top to bottom: prepare -> train -> evaluate -> keep the model ->
                predict
  tasks.py      what differs between tasks: head, loss, metrics, how predictions are
                written (regression, classification)

The stages, one package each (docstrings in each __init__.py list the files):
  data/         examples -> features -> TFRecords (and their cache) -> input_fn; the
                data report
  model/        the pre-trained model's files, checkpoints, model_fn, precision,
                model_info.json
  engines/      what trains and predicts (Estimator/TPUEstimator, session) and the
                hooks every run shares
  evaluation/   a split through the engine, dev metrics, the result files
  training/     the steps and train calls, monitors and the divergence guard, the best
                checkpoint, distribution over devices
  runtime/      a model folder run: what it holds, the predictors of TensorFlow, ONNX
                Runtime and OpenVINO
  export/       the model written in other formats: SavedModel, ONNX (float32, int8),
                Hugging Face
  serving/      serve.py's HTTP server (no TensorFlow)

Imports run one way, down this list read from the bottom: data and model <- engines <-
evaluation <- tasks <- training <- runtime <- export <- serving <- options <- pipeline
<- cli
(tests/test_layout.py checks it).
"""
