"""Training a model.

  loop.py             the steps, the engine's train calls, evaluation while training
  monitors.py         progress lines, throughput and the divergence guard, handed to the
                      engine as one object (progress.py, divergence.py)
  best_checkpoint.py  the best checkpoint kept apart, and when to stop early
  distribution.py     replicas: one device, mirrored, multi-worker, TPU cores
"""
