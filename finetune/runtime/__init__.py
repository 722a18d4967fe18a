"""Running a fine-tuned model folder: what it holds, and the predictor of each runtime.

  folders.py           what --model holds: an ONNX folder, a SavedModel, a run (no TensorFlow)
  predictor.py         predict.py's and the server's one way in: load_predictor, Predictor
  onnx_runtime.py      an ONNX folder on ONNX Runtime
  openvino_runtime.py  an ONNX folder on OpenVINO
  tensorflow_model.py  a SavedModel or a run's checkpoint on TensorFlow: the one module
                       here that imports TensorFlow, itself imported only for such a folder
"""
