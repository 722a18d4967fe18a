r"""WikiQA reranking the sentence-transformers way: CrossEncoderTrainer, a contender.

  python bench/rerank_crossencoder.py --model_dir=HF_MODEL_DIR --data_dir=WIKIQA_DIR \
      --loss=bce|lambda --seed=1 --output=result.json [--group_by_length] [--max_steps=0]

The job of run_rerank.py --task_name=wikiqa as a sentence-transformers user writes it,
on the same model (HF_MODEL_DIR: convert_hf_checkpoint.packaged_model_dir(), the
all-MiniLM-L6-v2 that models/minilm was converted from), data, epochs and batch:
CrossEncoder(HF_MODEL_DIR, num_labels=1, max_length=128) (a fresh dense head on the
pooled output), CrossEncoderTrainer, learning rate 2e-5, linear warmup over 10 % then
linear decay, AdamW (weight decay 0.01), gradient clipping at 1.0, CPU.
  bce     BinaryCrossEntropyLoss on the 20,360 training pairs, batch 32; random batches
          (the trainer's default) or, with --group_by_length, batches of similar length
          (transformers' LengthGroupedSampler, as bench/crossencoder_recipe.py builds it;
          bce only).
  lambda  LambdaLoss (its default NDCGLoss2++ weighting) over each training question's
          candidates, the questions with a correct one; 4 questions a batch (~38 pairs).
Every --eval_every steps (and at the end) the model ranks the dev questions of
WikiQA-dev-filtered.ref and the state with the best MAP is kept; that one ranks the
test questions of WikiQA-test-filtered.ref. MAP, MRR@10 and nDCG@10 are computed by
this project's finetune/evaluation/ranking_metrics.py (pure Python), as for ours.
Training seconds: trainer.train() wall clock less the dev evaluations inside it.
Writes one JSON file; imports no TensorFlow. Needs pip install -e .[hf,bench].
"""

import argparse
import copy
import json
import os
import sys
import time

import datasets
import sentence_transformers
from sentence_transformers.cross_encoder import CrossEncoder
from sentence_transformers.cross_encoder import CrossEncoderTrainer
from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments
from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
from sentence_transformers.cross_encoder.losses import LambdaLoss
import torch
from transformers import TrainerCallback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.crossencoder_recipe import length_grouped_batches
from finetune.evaluation import ranking_metrics
from processors import ranking as ranking_formats


def read_split(data_dir, split):
  """[(query_id, doc_id, question, sentence, label)] of WikiQA-<split>.txt with its .ref."""
  processor = ranking_formats.WikiqaProcessor()
  examples = processor._from_txt(data_dir, split)
  return [(e.query_id, e.doc_id, e.text_a, e.text_b, e.label) for e in examples]


def filtered(data_dir, split, rows):
  evaluated = processor_truth(data_dir, split).evaluated
  return [row for row in rows if row[0] in evaluated]


def processor_truth(data_dir, split):
  return ranking_formats.WikiqaProcessor().ranking_truth(data_dir, split)


def judge(model, rows, batch_size=64):
  scores = model.predict([(r[2], r[3]) for r in rows], batch_size=batch_size,
                         show_progress_bar=False)
  results = ranking_metrics.score_queries([r[0] for r in rows], [r[1] for r in rows],
                                          [float(s) for s in scores], [r[4] for r in rows])
  return ranking_metrics.summarize(results, prefix="")


class KeepBest(TrainerCallback):
  """Ranks dev every `every` steps; keeps the weights with the best MAP."""

  def __init__(self, model, dev, every):
    self.model, self.dev, self.every = model, dev, every
    self.best_map, self.best_step, self.best_state = -1.0, None, None
    self.eval_seconds, self.history = 0.0, []

  def evaluate(self, step):
    started = time.perf_counter()
    self.model.eval()
    figures = judge(self.model, self.dev)
    self.model.train()
    self.eval_seconds += time.perf_counter() - started
    self.history.append((step, figures["map"]))
    print("step %d: dev MAP %.4f" % (step, figures["map"]), file=sys.stderr, flush=True)
    if figures["map"] > self.best_map:
      self.best_map, self.best_step = figures["map"], step
      self.best_state = copy.deepcopy(self.model.state_dict())

  def on_step_end(self, args, state, control, **kwargs):
    if self.every and state.global_step % self.every == 0:
      self.evaluate(state.global_step)

  def on_train_end(self, args, state, control, **kwargs):
    if not self.history or self.history[-1][0] != state.global_step:
      self.evaluate(state.global_step)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model_dir", required=True)
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--loss", choices=["bce", "lambda"], required=True)
  parser.add_argument("--seed", type=int, default=1)
  parser.add_argument("--epochs", type=float, default=1.0)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--lambda_queries", type=int, default=4)
  parser.add_argument("--learning_rate", type=float, default=2e-5)
  parser.add_argument("--max_length", type=int, default=128)
  parser.add_argument("--eval_every", type=int, default=0)
  parser.add_argument("--group_by_length", action="store_true")
  parser.add_argument("--max_steps", type=int, default=0,
                      help="stop after this many steps (a speed probe; no test figures)")
  parser.add_argument("--output", required=True)
  args = parser.parse_args()
  if args.group_by_length and args.loss != "bce":
    # LambdaLoss's batch is a few questions' whole candidate lists: there are no single
    # pairs to sort by length.
    parser.error("--group_by_length groups pairs: it goes with --loss=bce, not --loss=%s"
                 % args.loss)

  torch.manual_seed(args.seed)
  torch.set_num_threads(2)
  train = read_split(args.data_dir, "train")
  dev = filtered(args.data_dir, "dev", read_split(args.data_dir, "dev"))
  test = filtered(args.data_dir, "test", read_split(args.data_dir, "test"))
  model = CrossEncoder(args.model_dir, num_labels=1, max_length=args.max_length,
                       device="cpu")
  if args.loss == "bce":
    train_dataset = datasets.Dataset.from_dict({
        "query": [r[2] for r in train], "passage": [r[3] for r in train],
        "label": [float(r[4]) for r in train]})
    loss = BinaryCrossEntropyLoss(model)
    batch_size = args.batch_size
  else:
    by_query = {}
    for r in train:
      by_query.setdefault(r[0], []).append(r)
    lists = [rows for rows in by_query.values() if any(r[4] for r in rows)]
    train_dataset = datasets.Dataset.from_dict({
        "query": [rows[0][2] for rows in lists], "docs": [[r[3] for r in rows] for rows in lists],
        "labels": [[r[4] for r in rows] for rows in lists]})
    loss = LambdaLoss(model)
    batch_size = args.lambda_queries
  extra = {}
  if args.group_by_length:
    extra["batch_sampler"] = length_grouped_batches(model.tokenizer, args.max_length,
                                                    columns=("query", "passage"))
  output_dir = os.path.join(os.path.dirname(os.path.abspath(args.output)), "ce-trainer")
  training_args = CrossEncoderTrainingArguments(
      output_dir=output_dir, num_train_epochs=args.epochs,
      per_device_train_batch_size=batch_size, learning_rate=args.learning_rate,
      lr_scheduler_type="linear", warmup_ratio=0.1, weight_decay=0.01, max_grad_norm=1.0,
      seed=args.seed, max_steps=args.max_steps or -1, eval_strategy="no",
      save_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=True,
      use_cpu=True, **extra)
  keep = KeepBest(model, dev, 0 if args.max_steps else args.eval_every)
  trainer = CrossEncoderTrainer(model=model, args=training_args, train_dataset=train_dataset,
                                loss=loss, callbacks=[] if args.max_steps else [keep])
  started = time.perf_counter()
  trainer.train()
  seconds = time.perf_counter() - started - keep.eval_seconds
  steps = trainer.state.global_step
  if args.loss == "bce":
    pairs = steps * args.batch_size
  else:  # each step a batch of lists: their candidates, counted list by list
    per_list = [len(docs) for docs in train_dataset["docs"]]
    pairs = sum(per_list) * steps * batch_size / len(per_list)
  result = {"contender": "ce-%s%s" % (args.loss, "-grouped" if args.group_by_length else ""),
            "seed": args.seed, "train_seconds": seconds, "steps": steps,
            "pairs_per_second": pairs / seconds if pairs else None,
            "torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__}
  if not args.max_steps:
    model.load_state_dict(keep.best_state)
    model.eval()
    result.update(best_step=keep.best_step, dev_map=keep.best_map, dev_history=keep.history,
                  test=judge(model, test))
  with open(args.output + ".tmp", "w") as f:
    json.dump(result, f, indent=1)
  os.replace(args.output + ".tmp", args.output)
  print(json.dumps(result))


if __name__ == "__main__":
  main()
