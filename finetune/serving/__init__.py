"""The fine-tuned model outside the training pipeline: export formats, runtimes, a server.

  saved_model.py       --export_dir: the SavedModel (TensorFlow Serving's layout)
  fine_tuned.py        a run's folder or a SavedModel located and checked, for exporting
  exporting.py         export_model.py: --format=onnx or hf
  onnx_graph.py        the model as an ONNX graph, built from the checkpoint's weights
  onnx_export.py       --format=onnx: float32 or int8, with a quality report
  hf_export.py         --format=hf: a Hugging Face folder (hf_format.py: the name mapping,
                       also used by convert_hf_checkpoint.py)
  predictor.py         predict.py's scoring: a checkpoint, a SavedModel or an ONNX folder
  onnx_runtime.py      predicting with ONNX Runtime (no TensorFlow)
  openvino_runtime.py  predicting with OpenVINO
  batching.py          the server's dynamic batches
  server.py            serve.py: the HTTP server
"""
