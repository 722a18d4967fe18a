"""The model and its files.

  model_inputs.py     bert_config.json, vocab.txt and the checkpoint, checked together
  checkpoints.py      whole or damaged checkpoints, resuming past a damaged one
                      (checkpoint_index.py reads an .index file as bytes)
  model_fn.py         BERT + the task's head -> ModelSpec (the model contract)
  precision.py        float32, bfloat16 or float16 compute, and what this CPU runs fast
  model_files.py      model_info.json, bert_config.json and vocab.txt beside the weights
                      (no TensorFlow: predict.py reads them for ONNX too)
"""
