# Copyright 2018 The Google AI Language Team Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
#
# Changed from Google's BERT (github.com/google-research/bert) by this project: what
# differs and why is in docs/differences.md.
r"""Fine-tunes BERT to classify sentence pairs, writing probabilities and the decision.

  python run_classifier.py --task_name=mrpc --do_train=true --do_eval=true \
    --do_predict=true --data_dir=data --vocab_file=model/vocab.txt \
    --bert_config_file=model/bert_config.json --init_checkpoint=model/bert_model.ckpt \
    --output_dir=out --threshold=auto

With two labels the decision is P(positive) >= --threshold; with more, the argmax.
Everything but the head lives in finetune/ (shared with run_reg.py).
"""

from finetune import cli
from finetune.tasks import ClassificationOptions
from finetune.tasks import ClassificationTask

# Adam's bias correction by default: with Google's update, fine-tuning MRPC fell short of
# the PyTorch recipe (AdamW, corrected) on the same split, and failed outright on some
# seeds; with it, the two agree (docs/quality.md).
cli.define_run_flags(ClassificationOptions, defaults={"adam_bias_correction": True})


def make_task(processor, head_options):
  return ClassificationTask.from_options(processor.get_labels(), head_options)


if __name__ == "__main__":
  cli.run(make_task, ClassificationOptions, __doc__)
