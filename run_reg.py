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
r"""Fine-tunes BERT to score sentence pairs (regression: sigmoid or linear output, MSE).

  python run_reg.py --task_name=sim --do_train=true --do_eval=true --data_dir=data \
    --vocab_file=model/vocab.txt --bert_config_file=model/bert_config.json \
    --init_checkpoint=model/bert_model.ckpt --output_dir=out

Everything but the head lives in finetune/ (shared with run_classifier.py).
"""

from finetune import cli
from finetune.tasks import RegressionOptions
from finetune.tasks import RegressionTask

# Google's Adam update (no bias correction), the declared default: it gave higher STS-B
# figures than the corrected one (docs/quality.md).
cli.define_run_flags(RegressionOptions)


def make_task(processor, head_options):
  # A processor may know its scores' range (cnsd_sts: 0..5); the flags override it.
  return RegressionTask.from_options(head_options, getattr(processor, "LABEL_RANGE", None))


if __name__ == "__main__":
  cli.run(make_task, RegressionOptions, __doc__)
