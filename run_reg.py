r"""Fine-tunes BERT to score sentence pairs (regression: sigmoid or linear output, MSE).

  python run_reg.py --task_name=sim --do_train=true --do_eval=true --data_dir=data \
    --vocab_file=model/vocab.txt --bert_config_file=model/bert_config.json \
    --init_checkpoint=model/bert_model.ckpt --output_dir=out

Everything but the head lives in finetune/ (shared with run_classifier.py).
"""

from absl import app
from absl import flags

from finetune import cli
from finetune.tasks import RegressionTask

FLAGS = flags.FLAGS

cli.define_pipeline_flags()
flags.DEFINE_bool("use_sigmoid_act", True, "Sigmoid output, in 0..1 (false: linear output for "
                  "an unbounded target).")
flags.DEFINE_float("label_min", None, "With --label_max: scores in [label_min, label_max] are "
                   "mapped into 0..1 for training and predictions mapped back (e.g. 0 and 5 "
                   "for STS-B).")
flags.DEFINE_float("label_max", None, "See --label_min.")


def main(_):
  cli.main(lambda processor: RegressionTask(FLAGS.use_sigmoid_act, FLAGS.label_min,
                                            FLAGS.label_max), FLAGS)


if __name__ == "__main__":
  app.run(main)
