r"""Fine-tunes BERT to classify sentence pairs, writing probabilities and the decision.

  python run_classifier.py --task_name=mrpc --do_train=true --do_eval=true \
    --do_predict=true --data_dir=data --vocab_file=model/vocab.txt \
    --bert_config_file=model/bert_config.json --init_checkpoint=model/bert_model.ckpt \
    --output_dir=out --threshold=auto

With two labels the decision is P(positive) >= --threshold; with more, the argmax.
Everything but the head lives in finetune/ (shared with run_reg.py).
"""

from absl import flags

from finetune import cli
from finetune.tasks import ClassificationTask

FLAGS = flags.FLAGS

# Adam's bias correction by default: with Google's update, fine-tuning MRPC fell short of
# the PyTorch recipe (AdamW, corrected) on the same split, and failed outright on some
# seeds; with it, the two agree (README, Quality).
cli.define_pipeline_flags(adam_bias_correction=True)
cli.define_flag("string", "threshold", "0.5", "Two labels: predict the positive label when "
                "its probability is >= this; 'auto': the F1-best threshold on dev.", cli.MODEL)
cli.define_flag("string", "positive_label", None, "Two labels: which one is positive "
                "(default \"1\" if it is a label, else the second label).", cli.MODEL)


def main(_):
  cli.main(lambda processor: ClassificationTask(processor.get_labels(), FLAGS.threshold,
                                                FLAGS.positive_label), FLAGS)


if __name__ == "__main__":
  cli.run_app(main, __doc__)
