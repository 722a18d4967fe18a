"""The requests and answers of the APIs that reranker clients already speak, as plain data.

serve.py answers in the shapes of three APIs, so that code written for them needs no
change but its base URL:
  - ours and Cohere's and Jina's rerank: POST /rerank, /v1/rerank, /v2/rerank with
    {model, query, documents: [text or {"text": text}], top_n, return_documents,
    max_tokens_per_doc} (and ours: truncate). One answer carries the fields of both
    Cohere's (id, results, meta) and Jina's (model, usage, results), whose results are
    the same: [{index, relevance_score, document: {text} when asked}], best first.
  - Hugging Face text-embeddings-inference (TEI): POST /rerank with {query, texts,
    truncate, truncation_direction, raw_scores, return_text} -> [{index, score, text}],
    best first; POST /predict with {inputs: [a, b] or [[a, b], ...]} -> per pair its
    labels' [{score, label}], best first; GET /info.
  - ours: POST /predict {pairs: [[a, b], ...]} -> {predictions: [...]}, as predict.py prints.
Ours and TEI's share two paths; the fields tell them apart (`texts` is TEI's rerank,
`inputs` TEI's predict); a body with both kinds is refused rather than guessed at.

Every parse_* takes the JSON body (a dict) and the server's limits (a ServeOptions) and
returns a request object, or raises BadRequest naming the field. Every answer function
takes the model's outputs and returns the JSON body. Nothing here does I/O: the tests
call these directly.
"""

import dataclasses
import json
from typing import Optional

import numpy as np

from finetune.model.model_files import to_unit_range
from finetune.serving import request_tokens
from finetune.serving.request_tokens import Truncation

COHERE, TEI, OURS = "cohere", "tei", "ours"


class BadRequest(Exception):
  """A request the server cannot take; the message says what was expected."""

  def __init__(self, message, status=400):
    super().__init__(message)
    self.status = status


@dataclasses.dataclass(frozen=True)
class Rerank:
  """A rerank request, whichever API it came in."""
  api: str  # COHERE (ours, Cohere's, Jina's) or TEI
  query: str
  documents: list[str]
  top_n: int
  return_documents: bool
  truncation: Truncation
  model: Optional[str] = None
  raw_scores: bool = False  # TEI: the model's own score, not the 0..1 relevance
  field: str = "documents"  # what the documents were called in the request

  @property
  def pairs(self):
    return [(self.query, document) for document in self.documents]


@dataclasses.dataclass(frozen=True)
class Predict:
  """A /predict request: ours ({pairs}) or TEI's ({inputs})."""
  api: str  # OURS or TEI
  pairs: list[tuple]
  truncation: Truncation
  raw_scores: bool = False
  single: bool = False  # TEI: `inputs` was one pair, so the answer is one list
  field: str = "pairs"


def kind(value):
  return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
          type(None): "null"}.get(type(value), "a number")


def text(value, where, limits):
  """A text field: a string of at most max_text_chars characters."""
  if not isinstance(value, str):
    raise BadRequest("%s: expected a string, found %s" % (where, kind(value)))
  if len(value) > limits.max_text_chars:
    raise BadRequest("%s: %d characters, over --max_text_chars=%d" % (
        where, len(value), limits.max_text_chars))
  return value


def items(body, field, limits):
  """A non-empty list field of at most max_pairs_per_request items."""
  values = body.get(field)
  if not isinstance(values, list):
    raise BadRequest("%s: expected a list, found %s" % (
        field, "nothing" if field not in body else kind(values)))
  if not values:
    raise BadRequest("%s: expected at least one item, found an empty list" % field)
  if len(values) > limits.max_pairs_per_request:
    raise BadRequest("%s: %d items, over --max_pairs_per_request=%d" % (
        field, len(values), limits.max_pairs_per_request))
  return values


def _flag(body, field, default):
  value = body.get(field, default)
  if value is None:
    return default
  if not isinstance(value, bool):
    raise BadRequest("%s: expected true or false, found %s" % (field, json.dumps(value)))
  return value


def _count(body, field, default):
  """An optional integer >= 1 (null: the default)."""
  value = body.get(field)
  if value is None:
    return default
  if not isinstance(value, int) or isinstance(value, bool) or value < 1:
    raise BadRequest("%s: expected an integer >= 1, found %s" % (field, json.dumps(value)))
  return value


def _model(body):
  model = body.get("model")
  if model is not None and not isinstance(model, str):
    raise BadRequest("model: expected a string, found %s" % kind(model))
  return model


def _direction(body):
  value = body.get("truncation_direction", request_tokens.RIGHT)
  if value is None:
    return request_tokens.RIGHT
  if not isinstance(value, str) or value.lower() not in (request_tokens.RIGHT,
                                                          request_tokens.LEFT):
    raise BadRequest("truncation_direction: expected \"right\" or \"left\", found %s" %
                     json.dumps(value))
  return value.lower()


def _is_tei(body, ours, tei, whose):
  """Whether `body` is TEI's request, by its field `tei`; a 400 if it holds `ours` too
  (`whose`: the APIs `ours` is the field of)."""
  if tei not in body:
    return False
  if ours in body:
    raise BadRequest("%s and %s: expected one of them (%s: %s, %s: "
                     "text-embeddings-inference's), found both" % (ours, tei, ours, whose, tei))
  return True


def _query(body, limits):
  """A rerank request's `query`: a text field that must be there."""
  if "query" not in body:
    raise BadRequest("query: expected a string, found nothing")
  return text(body["query"], "query", limits)


def parse_predict(body, limits):
  """Ours, {"pairs": [[a, b], ...]}, or TEI's, {"inputs": ...} -> Predict."""
  if _is_tei(body, "pairs", "inputs", "ours"):
    return _parse_tei_predict(body, limits)
  pairs = []
  for index, pair in enumerate(items(body, "pairs", limits)):
    if not isinstance(pair, list) or len(pair) != 2:
      raise BadRequest("pairs[%d]: expected [text_a, text_b], found %s" % (
          index, "a list of %d" % len(pair) if isinstance(pair, list) else kind(pair)))
    pairs.append((text(pair[0], "pairs[%d][0]" % index, limits),
                  text(pair[1], "pairs[%d][1]" % index, limits)))
  return Predict(OURS, pairs, Truncation(allowed=_flag(body, "truncate", True)))


def _parse_tei_predict(body, limits):
  """TEI's {"inputs": [a, b] | [[a, b], ...], truncate, truncation_direction, raw_scores}."""
  inputs = body["inputs"]
  single = isinstance(inputs, list) and bool(inputs) and all(
      isinstance(item, str) for item in inputs)
  batch = [inputs] if single else items(body, "inputs", limits)
  pairs = []
  for index, pair in enumerate(batch):
    where = "inputs" if single else "inputs[%d]" % index
    if not isinstance(pair, list) or len(pair) != 2:
      found = "a list of %d" % len(pair) if isinstance(pair, list) else kind(pair)
      raise BadRequest("%s: expected a pair [text_a, text_b] (this model scores pairs), "
                       "found %s" % (where, found))
    pairs.append((text(pair[0], where + "[0]", limits), text(pair[1], where + "[1]", limits)))
  truncation = Truncation(allowed=_flag(body, "truncate", True), direction=_direction(body))
  return Predict(TEI, pairs, truncation, raw_scores=_flag(body, "raw_scores", False),
                 single=single, field="inputs")


def parse_rerank(body, limits):
  """Ours / Cohere's / Jina's {query, documents, ...}, or TEI's {query, texts, ...} -> Rerank."""
  if _is_tei(body, "documents", "texts", "Cohere's and Jina's"):
    return _parse_tei_rerank(body, limits)
  query = _query(body, limits)
  rank_fields = body.get("rank_fields")
  if rank_fields not in (None, ["text"]):
    raise BadRequest("rank_fields: expected [\"text\"] (documents are ranked by their text), "
                     "found %s" % json.dumps(rank_fields))
  documents = []
  for index, document in enumerate(items(body, "documents", limits)):
    if isinstance(document, dict):
      document, where = document.get("text"), "documents[%d].text" % index
    else:
      where = "documents[%d]" % index
    documents.append(text(document, where, limits))
  top_n = _count(body, "top_n", len(documents))
  truncation = Truncation(allowed=_flag(body, "truncate", True),
                          max_tokens_b=_count(body, "max_tokens_per_doc", None))
  return Rerank(COHERE, query, documents, min(top_n, len(documents)),
                _flag(body, "return_documents", False), truncation, model=_model(body))


def _parse_tei_rerank(body, limits):
  query = _query(body, limits)
  texts = [text(item, "texts[%d]" % index, limits)
           for index, item in enumerate(items(body, "texts", limits))]
  truncation = Truncation(allowed=_flag(body, "truncate", True), direction=_direction(body))
  return Rerank(TEI, query, texts, len(texts), _flag(body, "return_text", False), truncation,
                raw_scores=_flag(body, "raw_scores", False), field="texts")


def check_model(asked, served_name, strict):
  """A request's `model` against the served one: any name unless `strict` (then 404)."""
  if strict and asked is not None and asked != served_name:
    raise BadRequest("model: %s is not served here; this server serves %s" % (
        json.dumps(asked), json.dumps(served_name)), status=404)


def too_long(request, error):
  """The 413 for a pair too long when the request said truncate: false."""
  return BadRequest("%s[%d]: %s, and truncate is false; send it shorter, or truncate: true "
                    "to cut it" % (request.field, error.index, error.describe()), status=413)


def predictions(info, outputs):
  """Our /predict answers, as predict.py prints them."""
  if "score" in outputs:
    return [{"score": float(score)} for score in outputs["score"]]
  labels = info["labels"]
  return [{"label": labels[int(label_id)],
           "probabilities": {label: float(p) for label, p in zip(labels, row)}}
          for label_id, row in zip(outputs["label_id"], outputs["probabilities"])]


def relevance(info, outputs):
  """One relevance score per pair, higher meaning more relevant.

  A sigmoid regression head's score in 0..1 (its label range mapped back), a linear
  head's score as it is, a classifier's probability of its positive label (of its last
  label with more than two).
  """
  if "score" in outputs:
    scores = np.asarray(outputs["score"], np.float64)
    if info.get("use_sigmoid_act"):
      scores = to_unit_range(scores, info.get("label_min"), info.get("label_max"))
    return scores
  labels = info["labels"]
  positive = info.get("positive_label") or labels[-1]
  return np.asarray(outputs["probabilities"], np.float64)[:, labels.index(positive)]


def raw_scores(info, outputs):
  """TEI's raw_scores: the regression's score in its label units; a classifier's
  probability of its positive label (the exported model outputs no logits)."""
  if "score" in outputs:
    return np.asarray(outputs["score"], np.float64)
  return relevance(info, outputs)


def rerank_answer(request, info, outputs, *, served_name, request_id, tokens, cut,
                  api_version="2"):
  """The rerank answer: TEI's list, or one object that Cohere's and Jina's clients read."""
  scores = (raw_scores if request.raw_scores else relevance)(info, outputs)
  order = np.argsort(-scores, kind="stable")[:request.top_n]
  if request.api == TEI:
    ranks = []
    for index in order:
      rank = {"index": int(index), "score": float(scores[index])}
      if request.return_documents:
        rank["text"] = request.documents[index]
      ranks.append(rank)
    return ranks
  results = []
  for index in order:
    result = {"index": int(index), "relevance_score": float(scores[index])}
    if request.return_documents:
      result["document"] = {"text": request.documents[index]}
    results.append(result)
  return {
      "id": request_id, "model": served_name, "results": results,
      # Cohere's: its version, and the units it would bill (a query of up to 100
      # documents is one search unit); ours: how many pairs were cut to fit.
      "meta": {"api_version": {"version": api_version},
               "billed_units": {"search_units": -(-len(request.documents) // 100)},
               "truncated_pairs": cut},
      "usage": {"total_tokens": tokens, "prompt_tokens": tokens},  # Jina's
  }


def predict_answer(request, info, outputs):
  """Our {"predictions": [...]}, or TEI's labels with their scores, best first, per pair."""
  if request.api == OURS:
    return {"predictions": predictions(info, outputs)}
  if "score" in outputs:
    scores = (raw_scores if request.raw_scores else relevance)(info, outputs)
    answers = [[{"score": float(score), "label": "score"}] for score in scores]
  else:
    answers = []
    for row in np.asarray(outputs["probabilities"], np.float64):
      order = np.argsort(-row, kind="stable")
      answers.append([{"score": float(row[i]), "label": info["labels"][i]} for i in order])
  return answers[0] if request.single else answers


def info_answer(info, limits, served_name):
  """GET /info, with TEI's fields where they mean something here, and our limits."""
  labels = info["labels"] if info["task"] == "classification" else ["score"]
  classes = {"id2label": {str(i): label for i, label in enumerate(labels)},
             "label2id": {label: i for i, label in enumerate(labels)}}
  return {
      "model_id": served_name, "served_model_name": served_name, "model_sha": None,
      "model_dtype": info.get("precision", "float32"),
      # TEI calls a model of one output a reranker, one of several a classifier.
      "model_type": {"reranker" if len(labels) == 1 else "classifier": classes},
      "max_input_length": info["max_seq_length"],
      "max_batch_tokens": limits.max_batch_tokens,
      "max_batch_requests": None,
      "max_client_batch_size": limits.max_pairs_per_request,
      "auto_truncate": True,  # a request without `truncate` is cut to fit
      "tokenization_workers": 1,
      "max_batch_pairs": limits.max_batch_pairs,
      "max_queue_pairs": limits.max_queue_pairs,
      "task": info["task"],
  }
