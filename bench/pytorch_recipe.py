r"""Our recipes written the PyTorch + transformers way: the reference for bench/*.py.

  python bench/pytorch_recipe.py --model_dir=HF_MODEL_DIR --data_dir=DIR [--task=stsb|mrpc]
                                 [--epochs=3] [--seed=0]

What a PyTorch user would write for the same job as, with default flags,
  stsb: run_reg.py --task_name=stsb --label_min=0 --label_max=5 (DIR holds sts-*.csv):
        head dropout 0.1, dense to 1, sigmoid, MSE on scores mapped to 0..1;
  mrpc: run_classifier.py --task_name=mrpc (DIR holds msr_paraphrase_train.txt, split
        by our mrpc processor's rule into the same 3,668 training and 408 dev pairs):
        head dropout 0.1, dense to 2, softmax cross-entropy;
with the same model (the Hugging Face folder our checkpoint was converted from) and the
same hyperparameters (max length 128, batch 32,
learning rate 5e-5 with 10 % linear warmup and linear decay, weight decay 0.01 except
LayerNorm and biases, epsilon 1e-6, gradient clipping at 1.0, 3 epochs), with the
tools such a user reaches for: the fast tokenizer, a shuffled DataLoader with dynamic
padding (each batch padded to its longest pair), torch.optim.AdamW.

Prints one JSON line: training and prediction throughput, and the dev metrics (Pearson
and Spearman; or accuracy, F1 of label 1 at P(1) >= 0.5, and AUC).
Needs the [bench] extra (torch, transformers). Only --task=mrpc imports TensorFlow
(through the processor), so the STS-B throughput figures are of PyTorch alone.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import transformers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# finetune.evaluation.metrics is numpy only; the processors would load TensorFlow into this process.
from finetune.evaluation import metrics


def read_stsb(data_dir):
  """(train, dev), each [(sentence_a, sentence_b, score in 0..1)], from sts-*.csv."""
  def read(path):
    with open(path, encoding="utf-8") as f:
      rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return [(row[5], row[6], float(row[4]) / 5.0) for row in rows]
  return (read(os.path.join(data_dir, "sts-train.csv")),
          read(os.path.join(data_dir, "sts-dev.csv")))


def read_mrpc(data_dir):
  """(train, dev), each [(sentence_a, sentence_b, label 0 or 1)]: our mrpc split."""
  from processors.glue import MrpcProcessor
  processor = MrpcProcessor()
  return tuple([(e.text_a, e.text_b, int(e.label)) for e in examples]
               for examples in (processor.get_train_examples(data_dir),
                                processor.get_dev_examples(data_dir)))


class PairModel(torch.nn.Module):
  """BERT pooled output -> dropout -> Linear(H, outputs); sigmoid when outputs == 1."""

  def __init__(self, model_dir, outputs):
    super().__init__()
    self.bert = transformers.BertModel.from_pretrained(model_dir)
    self.dropout = torch.nn.Dropout(0.1)
    self.output = torch.nn.Linear(self.bert.config.hidden_size, outputs)
    torch.nn.init.trunc_normal_(self.output.weight, std=0.02)
    torch.nn.init.zeros_(self.output.bias)

  def forward(self, batch):
    """[B] scores in 0..1 for one output, else [B, outputs] logits."""
    logits = self.output(self.dropout(self.bert(**batch).pooler_output))
    return torch.sigmoid(logits).squeeze(-1) if logits.shape[-1] == 1 else logits


def batches(tokenizer, examples, batch_size, max_length, shuffle, generator=None):
  """Yields (inputs padded to the batch's longest pair, targets as a tensor)."""
  order = (torch.randperm(len(examples), generator=generator).tolist() if shuffle
           else list(range(len(examples))))
  for start in range(0, len(order), batch_size):
    chosen = [examples[i] for i in order[start:start + batch_size]]
    inputs = tokenizer([a for a, _, _ in chosen], [b for _, b, _ in chosen], padding=True,
                       truncation=True, max_length=max_length, return_tensors="pt")
    yield inputs, torch.tensor([target for _, _, target in chosen])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model_dir", required=True)
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--task", choices=("stsb", "mrpc"), default="stsb")
  parser.add_argument("--epochs", type=float, default=3.0)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--predict_batch_size", type=int, default=32)
  parser.add_argument("--max_length", type=int, default=128)
  parser.add_argument("--learning_rate", type=float, default=5e-5)
  parser.add_argument("--threads", type=int, default=os.cpu_count())
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()

  torch.set_num_threads(args.threads)
  torch.manual_seed(args.seed)
  regression = args.task == "stsb"
  train, dev = (read_stsb if regression else read_mrpc)(args.data_dir)
  tokenizer = transformers.BertTokenizerFast.from_pretrained(args.model_dir)

  started = time.time()
  model = PairModel(args.model_dir, 1 if regression else 2)
  loss_fn = (torch.nn.functional.mse_loss if regression else
             torch.nn.functional.cross_entropy)
  no_decay = ("LayerNorm", "layer_norm", "bias")
  groups = [
      {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
       "weight_decay": 0.01},
      {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
       "weight_decay": 0.0},
  ]
  optimizer = torch.optim.AdamW(groups, lr=args.learning_rate, eps=1e-6)
  steps = int(len(train) / args.batch_size * args.epochs)
  scheduler = transformers.get_linear_schedule_with_warmup(optimizer, int(steps * 0.1), steps)
  generator = torch.Generator().manual_seed(args.seed)
  model.train()
  step, trained = 0, 0
  while step < steps:
    for inputs, targets in batches(tokenizer, train, args.batch_size, args.max_length, True,
                                   generator):
      loss = loss_fn(model(inputs), targets)
      optimizer.zero_grad()
      loss.backward()
      torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
      optimizer.step()
      scheduler.step()
      step += 1
      trained += len(targets)
      if step >= steps:
        break
  train_seconds = time.time() - started

  model.eval()
  started = time.time()
  predictions = []
  with torch.inference_mode():
    for inputs, _ in batches(tokenizer, dev, args.predict_batch_size, args.max_length, False):
      outputs = model(inputs)
      predictions.append((outputs if regression else torch.softmax(outputs, -1)[:, 1]).numpy())
  predict_seconds = time.time() - started
  scores = np.concatenate(predictions)
  targets = np.array([target for _, _, target in dev])
  results = {
      "train_examples": trained, "train_seconds": train_seconds,
      "train_examples_per_second": trained / train_seconds,
      "predict_examples": len(dev), "predict_seconds": predict_seconds,
      "predict_examples_per_second": len(dev) / predict_seconds,
  }
  if regression:
    results.update(pearson=metrics.pearson(scores, targets),
                   spearman=metrics.spearman(scores, targets))
  else:
    _, _, f1 = metrics.precision_recall_f1(targets == 1, scores >= 0.5)
    results.update(accuracy=float(np.mean((scores >= 0.5) == (targets == 1))), f1=f1,
                   auc=metrics.roc_auc(targets == 1, scores))
  print(json.dumps(results))


if __name__ == "__main__":
  main()
