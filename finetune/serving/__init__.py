"""The fine-tuned model outside the training pipeline: export formats and runtimes.

  onnx_graph.py    the model as an ONNX graph, built from the checkpoint's weights
  onnx_export.py   export_model.py --format=onnx: float32 or int8, with a quality report
  hf_export.py     export_model.py --format=hf: a Hugging Face folder
  onnx_runtime.py  predicting with ONNX Runtime (no TensorFlow)
"""
