r"""WikiQA distillation: a smaller student of MiniLM taught by a fine-tuned MiniLM teacher.

  python bench/distill_recipe.py --data_dir=WIKIQA_DIR --runs_dir=DIR
      [--teacher_run=RUN_DIR] [--student_layers=3] [--loss=margin_mse] [--seeds=1]
      [--epochs=2] [--teacher_epochs=2] [--max_seq_length=128] [--rounds=3]
      [--student_init=pretrained|teacher] [--max_queries=0]

1. Teacher: --teacher_run (a fine-tuned run_rerank.py --task_name=wikiqa folder with its
   test_results.tsv), else DIR/teacher-listwise-s<first seed>, trained by run_rerank.py
   as docs/reranking.md's WikiQA runs are (listwise, group 8, batch 32, lr 2e-5, dev
   evaluated every --eval_every_n_steps, the best checkpoint by MAP). predict.py scores
   every WikiQA training pair with it (its best checkpoint, float32), written as
   DIR/teacher_scores.tsv: `query_id<TAB>doc_id<TAB>score` lines, the ids of the .ref
   files, as processors/ranking.py's read_teacher_scores reads them.
2. Student: run_rerank.py with --num_hidden_layers=--student_layers, --teacher_scores
   and --loss (margin_mse over groups of 8, or mse), once per seed:
   DIR/student-L<N>-<loss>-s<seed> (with --student_init=teacher: ...-from-teacher-s<seed>).
   The student takes the FIRST N transformer layers of its --init_checkpoint (layer_0 ..
   layer_N-1, as --num_hidden_layers does; not every other layer), with its embeddings
   and pooler; the default 3 is half of MiniLM's 6. --student_init=pretrained (the
   default): models/minilm/bert_model.ckpt, a fresh head; teacher: the teacher's best
   checkpoint (TEACHER/best/), so the student starts from the fine-tuned layers and the
   teacher's head.
3. Quality: MAP, MRR@10, nDCG@10 of each run's test_results.tsv on the questions of
   WikiQA-test-filtered.ref (237), by bench/rerank_quality.py's functions; the students'
   mean and spread over seeds.
4. Speed: teacher and (the first seed's) student exported by export_model.py
   --format=onnx --precision=int8 --keep_float_layers=auto; on a CPU without int8
   instructions the export is float32 (with a warning), so the precision each export
   holds (its model_info.json) is printed beside the figures; an export made after its
   run's test predictions is kept (DIR/speed/<run folder>-int8). Then whole predict.py
   commands (start-up included) score the filtered test pairs: one untimed command each
   (its scores give the exported model's MAP), then --rounds rounds of teacher, student,
   each command timed alone, all of it holding /tmp/cpu.lock (flock(2), the lock
   `flock /tmp/cpu.lock` takes). The ratio is the teacher's best time over the student's.
5. One markdown table on stdout; one JSON line with every figure appended to
   DIR/distill_recipe.jsonl.

--max_queries=K keeps the first K questions of each split (written to DIR/wikiqa-first-K):
a smoke run of the whole pipeline. A run folder that already holds test_results.tsv is
kept, not trained again. Each command's output goes to its folder's .log. Imports no
TensorFlow (the commands do).
"""

import argparse
import fcntl
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.rerank_quality import FIGURES
from bench.rerank_quality import judge
from bench.rerank_quality import ours
from bench.rerank_quality import spread
from finetune.model import precision as precision_lib
from processors.ranking import read_qrels
from processors.ranking import WikiqaProcessor

MINILM = os.path.join(REPO, "models", "minilm")
SPLITS = ("train", "dev", "test")


def read_lines(path):
  """A UTF-8 file's lines, split at line feeds only (not at the other breaks that
  str.splitlines knows), as read_tsv splits them."""
  with open(path, encoding="utf-8", newline="") as f:
    lines = f.read().split("\n")
  return lines[:-1] if lines[-1] == "" else lines


def write_subset(data_dir, out_dir, max_queries):
  """The first `max_queries` questions of each split's .txt, .ref and -filtered.ref
  (lines kept as they are) written to out_dir; returns out_dir."""
  os.makedirs(out_dir, exist_ok=True)
  for split in SPLITS:
    refs = read_lines(os.path.join(data_dir, "WikiQA-%s.ref" % split))
    texts = read_lines(os.path.join(data_dir, "WikiQA-%s.txt" % split))
    kept = []
    for ref in refs:
      question = ref.split()[0]
      if question not in kept:
        if len(kept) == max_queries:
          break
        kept.append(question)
    count = sum(1 for ref in refs if ref.split()[0] in kept)
    names = {"WikiQA-%s.ref" % split: refs[:count], "WikiQA-%s.txt" % split: texts[:count]}
    filtered = os.path.join(data_dir, "WikiQA-%s-filtered.ref" % split)
    if os.path.exists(filtered):
      names["WikiQA-%s-filtered.ref" % split] = [
          line for line in read_lines(filtered) if line.split() and line.split()[0] in kept]
    for name, lines in names.items():
      with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
  return out_dir


def write_pairs(path, examples):
  """examples' (query, passage) as predict.py's --input: text_a<TAB>text_b lines."""
  with open(path, "w", encoding="utf-8") as f:
    for example in examples:
      f.write("%s\t%s\n" % (example.text_a.replace("\t", " "),
                            example.text_b.replace("\t", " ")))


def read_scores(path):
  """The floats of predict.py's stdout, one a line."""
  with open(path, encoding="utf-8") as f:
    return [float(line) for line in f if line.strip()]


def write_teacher_scores(path, examples, scores):
  """`query_id<TAB>doc_id<TAB>score` lines (a header first): scores[i] is examples[i]'s."""
  if len(scores) != len(examples):
    raise ValueError("%d scores for %d pairs" % (len(scores), len(examples)))
  with open(path, "w", encoding="utf-8") as f:
    f.write("query_id\tdoc_id\tscore\n")
    for example, score in zip(examples, scores):
      f.write("%s\t%s\t%.9g\n" % (example.query_id, example.doc_id, score))


def command(args, script, *flags):
  """[python, REPO/script, flags...]."""
  return [args.python, os.path.join(REPO, script)] + list(flags)


def call(argv, log_path, stdout=None):
  """Runs argv, its stderr (and stdout unless given) to log_path; exits on a failure."""
  print("$ " + " ".join(argv[1:]), flush=True)
  with open(log_path, "a", encoding="utf-8") as log:
    code = subprocess.call(argv, stdout=stdout or log, stderr=log, cwd=REPO)
  if code:
    sys.exit("error: exit status %d; see %s" % (code, log_path))


def rerank_flags(args, data_dir, output_dir, seed, epochs, init_checkpoint=None):
  """run_rerank.py's flags shared by teacher and student (docs/reranking.md's run);
  init_checkpoint: default models/minilm's."""
  return ["--task_name=wikiqa", "--data_dir=" + data_dir,
          "--vocab_file=" + os.path.join(MINILM, "vocab.txt"),
          "--bert_config_file=" + os.path.join(MINILM, "bert_config.json"),
          "--init_checkpoint=" + (init_checkpoint or os.path.join(MINILM, "bert_model.ckpt")),
          "--max_seq_length=%d" % args.max_seq_length, "--train_batch_size=32",
          "--learning_rate=%g" % args.learning_rate, "--num_train_epochs=%g" % epochs,
          "--seed=%d" % seed, "--eval_every_n_steps=%d" % args.eval_every_n_steps,
          "--best_metric=map", "--do_train=true", "--do_eval=true", "--do_predict=true",
          "--output_dir=" + output_dir]


def train(args, output_dir, flags):
  """run_rerank.py with `flags` unless output_dir already holds test_results.tsv."""
  if os.path.exists(os.path.join(output_dir, "test_results.tsv")):
    print("kept %s (it holds test_results.tsv)" % output_dir, flush=True)
    return output_dir
  call(command(args, "run_rerank.py", *flags), output_dir + ".log")
  return output_dir


def score_training_pairs(args, teacher_run, data_dir):
  """The teacher's score of every training pair (predict.py), in
  runs_dir/teacher_scores.tsv; returns its path."""
  examples = WikiqaProcessor().get_train_examples(data_dir)
  path = os.path.join(args.runs_dir, "teacher_scores.tsv")
  if os.path.exists(path) and os.path.getmtime(path) > os.path.getmtime(
      os.path.join(teacher_run, "test_results.tsv")) and len(read_lines(path)) == len(
          examples) + 1:  # a header, then one line a pair
    print("kept %s (made after the teacher's run, one score a pair)" % path, flush=True)
    return path
  pairs = os.path.join(args.runs_dir, "train_pairs.tsv")
  write_pairs(pairs, examples)
  printed = os.path.join(args.runs_dir, "train_teacher_scores.txt")
  with open(printed, "w", encoding="utf-8") as out:
    call(command(args, "predict.py", "--model=" + teacher_run, "--input=" + pairs,
                 "--batch_size=64"), os.path.join(args.runs_dir, "teacher_scores.log"), out)
  write_teacher_scores(path, examples, read_scores(printed))
  return path


def export_int8(args, run_dir, output_dir):
  """export_model.py int8 (keep_float_layers=auto) unless output_dir holds an export
  already; the precision its model_info.json says."""
  info = os.path.join(output_dir, "model_info.json")
  if os.path.exists(info) and os.path.getmtime(info) > os.path.getmtime(
      os.path.join(run_dir, "test_results.tsv")):
    print("kept %s (exported after the run's test predictions)" % output_dir, flush=True)
    with open(info, encoding="utf-8") as f:
      return json.load(f)["precision"]
  call(command(args, "export_model.py", "--model=" + run_dir, "--format=onnx",
               "--precision=int8", "--keep_float_layers=auto", "--output_dir=" + output_dir),
       output_dir + ".log")
  with open(os.path.join(output_dir, "model_info.json"), encoding="utf-8") as f:
    return json.load(f)["precision"]


def timed_predict(args, model, pairs, out_path):
  """Seconds of one whole predict.py command scoring `pairs` (its stdout to out_path)."""
  argv = command(args, "predict.py", "--model=" + model, "--input=" + pairs,
                 "--batch_size=32")
  started = time.perf_counter()
  with open(out_path, "w", encoding="utf-8") as out:
    code = subprocess.call(argv, stdout=out, stderr=subprocess.DEVNULL, cwd=REPO)
  seconds = time.perf_counter() - started
  if code:
    sys.exit("error: exit status %d of %s" % (code, " ".join(argv[1:])))
  return seconds


def measure_speed(args, models, examples, qrels):
  """{name: {seconds: [one per round], quality: the export's {figure: value}}}.

  models: [(name, exported folder)]; examples: the test pairs scored.
  """
  work = os.path.join(args.runs_dir, "speed")
  pairs = os.path.join(work, "test_pairs.tsv")
  write_pairs(pairs, examples)
  results = {name: {"seconds": []} for name, _ in models}
  print("waiting for %s" % args.lock_file, flush=True)
  with open(args.lock_file, "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    for name, folder in models:  # untimed: files cached, and the export's scores
      out = os.path.join(work, name + "-test_scores.txt")
      timed_predict(args, folder, pairs, out)
      results[name]["quality"] = judge([e.query_id for e in examples],
                                       [e.doc_id for e in examples], read_scores(out), qrels)
    for round_index in range(args.rounds):
      for name, folder in models:
        seconds = timed_predict(args, folder, pairs, os.devnull)
        results[name]["seconds"].append(seconds)
        print("round %d  %-8s %7.2f s" % (round_index + 1, name, seconds), flush=True)
  return results


def student_run(args, data_dir, teacher, teacher_scores, seed):
  """(the student's run folder, its run_rerank.py flags) for `seed`."""
  student = os.path.join(args.runs_dir, "student-L%d-%s%s-s%d" % (
      args.student_layers, args.loss,
      "-from-teacher" if args.student_init == "teacher" else "", seed))
  flags = rerank_flags(args, data_dir, student, seed, args.epochs, init_checkpoint=(
      os.path.join(teacher, "best") if args.student_init == "teacher" else None))
  flags += ["--num_hidden_layers=%d" % args.student_layers, "--loss=" + args.loss,
            "--teacher_scores=" + teacher_scores]
  if args.loss == "margin_mse":
    flags.append("--group_size=8")
  return student, flags


def filtered_test_examples(data_dir):
  """The test candidates of the questions WikiQA-test-filtered.ref scores, and its qrels."""
  qrels = read_qrels(os.path.join(data_dir, "WikiQA-test-filtered.ref"))
  examples = [e for e in WikiqaProcessor().get_test_examples(data_dir) if e.query_id in qrels]
  return examples, qrels


def layers(run_dir):
  """The num_hidden_layers of a run's bert_config.json."""
  with open(os.path.join(run_dir, "bert_config.json"), encoding="utf-8") as f:
    return json.load(f)["num_hidden_layers"]


def print_table(rows, questions, pairs, rounds):
  """The markdown table of `rows` ({name, layers, runs: [figures], speed})."""
  print("\n| WikiQA test, %d questions | layers | seeds | MAP | MRR@10 | nDCG@10 | exported "
        "| MAP exported | predict.py, %d pairs (best of %d) | speed-up |" % (
            questions, pairs, rounds))
  print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
  reference = min(rows[0]["speed"]["seconds"])
  for row in rows:
    cells = ["%.4f ± %.4f" % (statistics.mean(r[f] for r in row["runs"]),
                              spread([r[f] for r in row["runs"]])) for f in FIGURES]
    best = min(row["speed"]["seconds"])
    print("| %s | %d | %d | %s | %s | %.4f | %.2f s | x%.2f |" % (
        row["name"], row["layers"], len(row["runs"]), " | ".join(cells),
        row["speed"]["precision"], row["speed"]["quality"]["map"], best, reference / best))
  print("\nMAP, MRR@10, nDCG@10: each run's test_results.tsv, mean ± spread over seeds; "
        "exported, MAP exported, predict.py: the teacher's and the first seed's student's "
        "export, timed alternately; speed-up: the teacher's best time over each one's.")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data_dir", required=True, help="the WikiQA release's folder")
  parser.add_argument("--runs_dir", required=True)
  parser.add_argument("--teacher_run", default=None,
                      help="a fine-tuned WikiQA run folder to reuse (else one is trained)")
  parser.add_argument("--student_layers", type=int, default=3)
  parser.add_argument("--loss", default="margin_mse", choices=("margin_mse", "mse"))
  parser.add_argument("--student_init", default="pretrained", choices=("pretrained", "teacher"),
                      help="the student's first layers from models/minilm or the teacher's best")
  parser.add_argument("--seeds", default="1", help="students' seeds, e.g. 1,2,3")
  parser.add_argument("--epochs", type=float, default=2, help="the student's")
  parser.add_argument("--teacher_epochs", type=float, default=2)
  parser.add_argument("--learning_rate", type=float, default=2e-5)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--eval_every_n_steps", type=int, default=130)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--max_queries", type=int, default=0,
                      help="keep the first K questions of each split (0: all)")
  parser.add_argument("--lock_file", default="/tmp/cpu.lock")
  parser.add_argument("--python", default=sys.executable)
  args = parser.parse_args()
  for name in ("data_dir", "runs_dir", "teacher_run"):  # the commands run in REPO
    if getattr(args, name):
      setattr(args, name, os.path.abspath(getattr(args, name)))
  seeds = [int(seed) for seed in args.seeds.split(",")]
  os.makedirs(os.path.join(args.runs_dir, "speed"), exist_ok=True)
  data_dir = args.data_dir
  if args.max_queries:
    data_dir = write_subset(data_dir, os.path.join(
        args.runs_dir, "wikiqa-first-%d" % args.max_queries), args.max_queries)
  teacher = args.teacher_run
  if teacher is None:
    teacher = os.path.join(args.runs_dir, "teacher-listwise-s%d" % seeds[0])
    train(args, teacher, rerank_flags(args, data_dir, teacher, seeds[0], args.teacher_epochs)
          + ["--loss=listwise", "--group_size=8"])
  if not os.path.exists(os.path.join(teacher, "test_results.tsv")):
    sys.exit("error: %s holds no test_results.tsv; expected a run_rerank.py --task_name="
             "wikiqa run with --do_predict" % teacher)
  teacher_scores = score_training_pairs(args, teacher, data_dir)
  students = []
  for seed in seeds:
    student, flags = student_run(args, data_dir, teacher, teacher_scores, seed)
    students.append(train(args, student, flags))
  examples, qrels = filtered_test_examples(data_dir)
  exports, exported = [], {}
  for name, run_dir in (("teacher", teacher), ("student", students[0])):
    exports.append((name, os.path.join(args.runs_dir, "speed",
                                       os.path.basename(run_dir) + "-int8")))
    exported[name] = export_int8(args, run_dir, exports[-1][1])
  speed = measure_speed(args, exports, examples, qrels)
  for name in exported:
    speed[name]["precision"] = exported[name]
  rows = [dict(name="teacher (listwise)", layers=layers(teacher),
               runs=[ours(teacher, qrels)], speed=speed["teacher"], run_dirs=[teacher]),
          dict(name="student (%s)" % args.loss, layers=layers(students[0]),
               runs=[ours(student, qrels) for student in students], speed=speed["student"],
               run_dirs=students)]
  print("CPU: %s" % precision_lib.describe_cpu())
  print_table(rows, len(qrels), len(examples), args.rounds)
  for name in exported:
    if exported[name] != "int8":
      print("note: %s: int8 asked, model_info.json says %s (this CPU lacks int8 "
            "instructions: export_model.py's warning in %s.log); its speed is %s's" % (
                name, exported[name], dict(exports)[name], exported[name]))
  record = dict(vars(args), data_dir_used=data_dir, questions=len(qrels), pairs=len(examples),
                cpu=precision_lib.describe_cpu(), rows=rows,
                speed_up=min(speed["teacher"]["seconds"]) / min(speed["student"]["seconds"]),
                time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
  path = os.path.join(args.runs_dir, "distill_recipe.jsonl")
  with open(path, "a", encoding="utf-8") as f:
    f.write(json.dumps(record, sort_keys=True) + "\n")
  print("wrote %s" % path)


if __name__ == "__main__":
  main()
