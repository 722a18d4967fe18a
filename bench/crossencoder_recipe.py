r"""STS-B the sentence-transformers way: CrossEncoder + CrossEncoderTrainer, a contender.

  python bench/crossencoder_recipe.py --model_dir=HF_MODEL_DIR --data_dir=DIR
      [--train_limit=0] [--epochs=1] [--seed=0] [--predict_repeats=1] [--save_dir=DIR]

The job of run_reg.py --task_name=stsb --label_min=0 --label_max=5 as a
sentence-transformers user writes it. DIR holds sts-train.csv, sts-dev.csv and
sts-test.csv in the STS benchmark's layout (tab-separated, score 0..5 in column 5,
the sentences in columns 6 and 7; the columns pytorch_recipe.read_stsb reads), scores
divided by 5. HF_MODEL_DIR is convert_hf_checkpoint.packaged_model_dir() (all-MiniLM-L6-v2).

Recipe: CrossEncoder(HF_MODEL_DIR, num_labels=1, max_length=128, activation_fn=Sigmoid)
(BertForSequenceClassification: pooled output, dropout 0.1, a fresh dense to 1), trained
by CrossEncoderTrainer with MSELoss on the sigmoid outputs over the first --train_limit
training pairs (0: all): batch 32, learning rate 5e-5, linear warmup over 10 % of the
steps then linear decay, AdamW with weight decay 0.01 (not on biases and LayerNorm),
epsilon 1e-6, gradient clipping at 1.0, CPU, no evaluation, checkpoints or reports.
Batches are grouped by length, as ours are. In sentence-transformers 6.2 the trainer
builds its own batch sampler and ignores transformers' train_sampling_strategy=
"group_by_length" (the former group_by_length=True), so the grouping is passed through
CrossEncoderTrainingArguments(batch_sampler=...): a callable that returns the library's
DefaultBatchSampler over transformers' LengthGroupedSampler (the sampler that
"group_by_length" means: shuffle, sort by token length within mega-batches of up to 50
batches), lengths counted with the model's tokenizer when training starts.
Then model.predict(pairs, batch_size=32) on sts-dev for Pearson and Spearman, and on all
of sts-test --predict_repeats times (predict() sorts its inputs by length itself).

Timed in-process, wall clock: the imports (torch, sentence_transformers, datasets;
from this module's start), building the CrossEncoder, trainer.train() alone, and each sts-test
predict() alone. Prints one JSON line on stdout, everything else goes to stderr.
--save_dir keeps the trained model (save_pretrained), for bench/crossencoder_backends.py,
and its sts-test scores as test_scores.npy.
Needs the [bench] extra (pip install -e ".[bench]"). Imports no TensorFlow.
"""

import time

_STARTED = time.perf_counter()  # Before the heavy imports, which import_seconds counts.

import argparse
import contextlib
import json
import os
import sys
import tempfile

import datasets
import numpy
import sentence_transformers
from sentence_transformers.cross_encoder import CrossEncoder
from sentence_transformers.cross_encoder import CrossEncoderTrainer
from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments
from sentence_transformers.cross_encoder.losses import MSELoss
import torch
import transformers
from transformers.trainer_pt_utils import LengthGroupedSampler

IMPORT_SECONDS = time.perf_counter() - _STARTED

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# finetune.evaluation.metrics is numpy only: the same Pearson and Spearman as our evaluation.
from finetune.evaluation import metrics


def read_sts(path, limit=0):
  """[(sentence_a, sentence_b, score in 0..1)]: the first `limit` pairs (0: all)."""
  # pytorch_recipe.read_stsb's rule, for any one file (it reads train and dev only).
  with open(path, encoding="utf-8") as f:
    rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
  return [(row[5], row[6], float(row[4]) / 5.0) for row in rows[:limit or None]]


def length_grouped_batches(tokenizer, max_length, columns=("sentence1", "sentence2")):
  """A batch_sampler for CrossEncoderTrainingArguments: batches of similar token length.

  columns: the dataset's two text columns, whose pairs' tokens are counted.
  """
  first, second = columns

  def build(dataset, batch_size, drop_last, valid_label_columns=None, generator=None,
            seed=0):
    # Counted here, when train() starts, as Trainer counts them for "group_by_length".
    encoded = tokenizer(list(dataset[first]), list(dataset[second]),
                        truncation=True, max_length=max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    # The trainer's generator is seeded with --seed: the same batches on every run.
    sampler = LengthGroupedSampler(batch_size, lengths=lengths, generator=generator)
    return sentence_transformers.DefaultBatchSampler(
        sampler, batch_size=batch_size, drop_last=drop_last,
        valid_label_columns=valid_label_columns, generator=generator, seed=seed)
  return build


def run(args):
  """Trains, evaluates and times; returns the results dict."""
  data = os.path.join(args.data_dir, "sts-%s.csv")
  train = read_sts(data % "train", args.train_limit)
  dev, test = read_sts(data % "dev"), read_sts(data % "test")

  # The fresh classifier head is drawn from torch's global generator.
  torch.manual_seed(args.seed)
  started = time.perf_counter()
  model = CrossEncoder(args.model_dir, num_labels=1, max_length=args.max_length,
                       activation_fn=torch.nn.Sigmoid(), device="cpu")
  load_seconds = time.perf_counter() - started

  train_dataset = datasets.Dataset.from_dict({
      "sentence1": [a for a, _, _ in train], "sentence2": [b for _, b, _ in train],
      "label": [score for _, _, score in train]})
  with tempfile.TemporaryDirectory() as output_dir:  # Nothing is saved; it must exist.
    training_args = CrossEncoderTrainingArguments(
        output_dir=output_dir, num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size, learning_rate=args.learning_rate,
        lr_scheduler_type="linear", warmup_steps=0.1, weight_decay=0.01,
        adam_epsilon=1e-6, max_grad_norm=1.0, seed=args.seed,
        batch_sampler=length_grouped_batches(model.tokenizer, args.max_length),
        eval_strategy="no", save_strategy="no", logging_strategy="no", report_to="none",
        disable_tqdm=True, use_cpu=True,
        bf16=args.bf16)  # transformers' Trainer: torch.autocast to bfloat16 on the CPU
    trainer = CrossEncoderTrainer(
        model=model, args=training_args, train_dataset=train_dataset,
        loss=MSELoss(model, activation_fn=torch.nn.Sigmoid()))
    started = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - started

  dev_scores = model.predict([(a, b) for a, b, _ in dev], batch_size=args.predict_batch_size,
                             show_progress_bar=False)
  dev_targets = [score for _, _, score in dev]
  test_pairs = [(a, b) for a, b, _ in test]
  predict_seconds = []
  for _ in range(args.predict_repeats):
    started = time.perf_counter()
    test_scores = model.predict(test_pairs, batch_size=args.predict_batch_size,
                                show_progress_bar=False)
    predict_seconds.append(time.perf_counter() - started)
  if args.save_dir:
    model.save_pretrained(args.save_dir)
    numpy.save(os.path.join(args.save_dir, "test_scores.npy"), numpy.asarray(test_scores))

  trained = len(train) * args.epochs
  return {
      "train_examples": trained, "train_seconds": train_seconds,
      "train_examples_per_second": trained / train_seconds,
      "predict_examples": len(test), "predict_seconds": predict_seconds,
      "predict_examples_per_second":  # None with --predict_repeats=0 (training only)
          sum(len(test) / seconds for seconds in predict_seconds) / len(predict_seconds)
          if predict_seconds else None,
      "pearson": metrics.pearson(dev_scores, dev_targets),
      "spearman": metrics.spearman(dev_scores, dev_targets),
      "import_seconds": IMPORT_SECONDS, "load_seconds": load_seconds,
      "sentence_transformers_version": sentence_transformers.__version__,
      "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
      "bf16": args.bf16,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model_dir", required=True)
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--train_limit", type=int, default=0)
  parser.add_argument("--epochs", type=int, default=1)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--predict_batch_size", type=int, default=32)
  parser.add_argument("--max_length", type=int, default=128)
  parser.add_argument("--learning_rate", type=float, default=5e-5)
  parser.add_argument("--predict_repeats", type=int, default=1)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--save_dir", default="")
  parser.add_argument("--bf16", action="store_true",
                      help="train in bfloat16 mixed precision (the Trainer's bf16=True)")
  args = parser.parse_args()

  # Progress bars and library chatter would mix with the JSON line: stderr only.
  transformers.utils.logging.disable_progress_bar()
  datasets.disable_progress_bars()
  with contextlib.redirect_stdout(sys.stderr):
    results = run(args)
  print(json.dumps(results))


if __name__ == "__main__":
  main()
