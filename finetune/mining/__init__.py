"""Hard negatives mined for ranking data: queries, a corpus and known positives in,
grouped `query<TAB>passage<TAB>label` rows out (mine_negatives.py; docs/mining.md).

  inputs.py      the three input files, streamed, each bad row a located error
  bm25_index.py  the first stage: BM25 (bm25s) over WordPiece ids, an index on disk
  negatives.py   one query's window, false-negative guard and sampling
  chunks.py      the output in chunks, so that an interrupted run resumes
  mining.py      the whole run (mine), with its report
"""
