r"""Fine-tunes BERT to score sentence pairs (regression: sigmoid or linear output, MSE).

  python run_reg.py --task_name=sim --do_train=true --do_eval=true --data_dir=data \
    --vocab_file=model/vocab.txt --bert_config_file=model/bert_config.json \
    --init_checkpoint=model/bert_model.ckpt --output_dir=out

Everything but the head lives in finetune/ (shared with run_classifier.py).
"""

from absl import flags

from finetune import cli
from finetune.tasks import RegressionTask

FLAGS = flags.FLAGS

# Google's Adam update (no bias correction) by default: it gave higher STS-B figures
# than the corrected one (README, Quality).
cli.define_pipeline_flags(adam_bias_correction=False)
cli.define_flag("bool", "use_sigmoid_act", True, "Sigmoid output, in 0..1 (false: a linear "
                "output for an unbounded target).", cli.MODEL)
cli.define_flag("float", "label_min", None, "With --label_max: scores in [label_min, "
                "label_max] are mapped into 0..1 and predictions back (STS-B: 0 and 5).",
                cli.MODEL)
cli.define_flag("float", "label_max", None, "Upper end of the score range (see --label_min).",
                cli.MODEL)


def main(_):
  cli.main(lambda processor: RegressionTask(FLAGS.use_sigmoid_act, FLAGS.label_min,
                                            FLAGS.label_max), FLAGS)


if __name__ == "__main__":
  cli.run_app(main, __doc__)
