"""The mined rows written in chunks, so that an interrupted run resumes where it stopped.

Chunk i (queries [i * chunk_size, (i + 1) * chunk_size) of those with positives) goes to
`<output>.parts/chunk-<i>.tsv` with its counts in `chunk-<i>.json`, the two renamed into
place together (common.files.atomic_outputs): a chunk on disk is a whole one. The
folder's manifest.json holds the run's settings and its inputs' fingerprints; a rerun
with the same ones skips the chunks on disk, any other starts the folder over. When every
chunk is there they are joined into the output (renamed whole) and the folder goes.
"""

import json
import os

from absl import logging

from common import files


class ChunkFolder:

  def __init__(self, output, manifest):
    self.path = output + ".parts"
    self.manifest = manifest
    manifest_path = os.path.join(self.path, "manifest.json")
    if files.exists(self.path):
      found = None
      if files.exists(manifest_path):
        try:
          found = json.loads(files.read_text(manifest_path))
        except ValueError:
          found = None
      if found != manifest:
        logging.warning("%s: made with other settings or inputs; starting over", self.path)
        files.remove_tree(self.path)
      else:
        files.remove_stale_temporaries(self.path)
    if not files.exists(self.path):
      files.makedirs(self.path)
      files.write_text_atomically(manifest_path, json.dumps(manifest, indent=1))

  def _paths(self, index):
    stem = os.path.join(self.path, "chunk-%06d" % index)
    return stem + ".tsv", stem + ".json"

  def done(self, index):
    return all(files.exists(path) for path in self._paths(index))

  def write(self, index, lines, counts):
    rows_path, counts_path = self._paths(index)
    with files.atomic_outputs([counts_path, rows_path]) as (counts_tmp, rows_tmp):
      with open(rows_tmp, "w", encoding="utf-8") as f:
        f.write("".join(lines))
      with open(counts_tmp, "w", encoding="utf-8") as f:
        json.dump(counts, f)

  def counts(self, index):
    return json.loads(files.read_text(self._paths(index)[1]))

  def join(self, count, output):
    """Joins chunks 0..count-1 into `output` (whole or not at all); removes the folder."""
    with files.atomic_output(output) as temporary:
      with open(temporary, "wb") as out:
        for index in range(count):
          with open(self._paths(index)[0], "rb") as f:
            while True:
              block = f.read(1 << 20)
              if not block:
                break
              out.write(block)
    files.remove_tree(self.path)
