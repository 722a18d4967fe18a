r"""Fine-tunes BERT to rerank a query's candidates, judged by MAP, MRR@10 and nDCG@10.

  python run_rerank.py --task_name=wikiqa --data_dir=data/wikiqa --do_train=true \
    --do_eval=true --do_predict=true --vocab_file=model/vocab.txt \
    --bert_config_file=model/bert_config.json --init_checkpoint=model/bert_model.ckpt \
    --output_dir=out --loss=listwise --group_size=8 --eval_every_n_steps=200

The score of a (query, passage) pair is one logit; --loss picks how a query's candidates
train it (pointwise, listwise, lambda). Everything but the head lives in finetune/
(shared with run_reg.py and run_classifier.py); the formats are processors/ranking.py's.
"""

from finetune import cli
from finetune.tasks import RankingOptions
from finetune.tasks import RankingTask

cli.define_run_flags(RankingOptions, defaults={"adam_bias_correction": True})


def make_task(processor, head_options):
  return RankingTask.from_options(processor.get_labels(), head_options)


if __name__ == "__main__":
  cli.run(make_task, RankingOptions, __doc__)
