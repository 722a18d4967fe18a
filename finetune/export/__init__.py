"""The fine-tuned model in other formats: what export_model.py and --export_dir write.

  saved_model.py   --export_dir: the SavedModel (TensorFlow Serving's layout)
  fine_tuned.py    a run's folder or a SavedModel located and checked, its weights and records
  exporting.py     export_model.py: --format=onnx or hf
  onnx_graph.py    the model as an ONNX graph, built from the checkpoint's weights
  onnx_export.py   --format=onnx: float32 or int8, with a quality report
  hf_export.py     --format=hf: a Hugging Face folder (hf_format.py: the name mapping,
                   also used by convert_hf_checkpoint.py)
An export is checked by running it (finetune/runtime/), which is why export comes after
runtime in the imports.
"""
