"""Running a model over a split and what comes out of it.

  prediction.py  a split through the engine, outputs in input order
  evaluate.py    dev metrics of a checkpoint
  metrics.py     the metrics, exact over the whole dev set (numpy)
  outputs.py     eval_results.txt, eval_history.tsv, test_results.tsv, TensorBoard scalars
"""
