"""The server's request parsing, answer shapes, per-request truncation and token batching,
in process: no server, no model (tests/test_server.py and test_clients.py hold those).
"""

import asyncio

import numpy as np
import pytest

from finetune.data.features import pair_token_ids
from finetune.serving import api
from finetune.serving import request_tokens
from finetune.serving.batching import Batcher
from finetune.serving.options import ServeOptions
import tokenization_fast

LIMITS = ServeOptions(max_pairs_per_request=8, max_text_chars=100)
REGRESSION = {"task": "regression", "use_sigmoid_act": True, "label_min": 0.0,
              "label_max": 5.0, "max_seq_length": 16, "precision": "int8"}
CLASSIFIER = {"task": "classification", "labels": ["0", "1"], "positive_label": "1",
              "max_seq_length": 16}


def test_cohere_and_jina_requests_and_our_own_are_one_shape():
  request = api.parse_rerank({
      "model": "rerank-v3.5", "query": "q", "documents": ["a", {"text": "b"}, "c"],
      "top_n": 2, "return_documents": True, "max_tokens_per_doc": 5,
      "priority": 0, "rank_fields": ["text"]}, LIMITS)  # fields we do not use are let be
  assert (request.api, request.query, request.documents, request.top_n) == (
      api.COHERE, "q", ["a", "b", "c"], 2)
  assert request.return_documents and request.model == "rerank-v3.5"
  assert request.truncation == request_tokens.Truncation(True, 5, "right")
  assert request.pairs == [("q", "a"), ("q", "b"), ("q", "c")]
  plain = api.parse_rerank({"query": "q", "documents": ["a"], "top_n": 9}, LIMITS)
  assert (plain.top_n, plain.return_documents, plain.truncation) == (1, False,
                                                                    request_tokens.DEFAULT)


def test_tei_requests_are_told_from_ours_by_their_fields():
  rerank = api.parse_rerank({"query": "q", "texts": ["a", "b"], "raw_scores": True,
                             "return_text": True, "truncate": False,
                             "truncation_direction": "Left"}, LIMITS)
  assert (rerank.api, rerank.documents, rerank.top_n, rerank.raw_scores,
          rerank.return_documents, rerank.field) == (api.TEI, ["a", "b"], 2, True, True, "texts")
  assert rerank.truncation == request_tokens.Truncation(False, None, "left")
  single = api.parse_predict({"inputs": ["a", "b"]}, LIMITS)
  batch = api.parse_predict({"inputs": [["a", "b"], ["c", "d"]]}, LIMITS)
  ours = api.parse_predict({"pairs": [["a", "b"]]}, LIMITS)
  assert (single.api, single.single, single.pairs) == (api.TEI, True, [("a", "b")])
  assert (batch.single, batch.pairs) == (False, [("a", "b"), ("c", "d")])
  assert (ours.api, ours.pairs) == (api.OURS, [("a", "b")])


@pytest.mark.parametrize("parse,body,message", [
    (api.parse_rerank, {"query": "q", "documents": ["a"], "texts": ["a"]},
     "documents and texts: expected one of them (documents: Cohere's and Jina's, texts: "
     "text-embeddings-inference's), found both"),
    (api.parse_predict, {"pairs": [["a", "b"]], "inputs": ["a", "b"]},
     "pairs and inputs: expected one of them (pairs: ours, inputs: "
     "text-embeddings-inference's), found both"),
    (api.parse_predict, {"inputs": "a"},
     "inputs: expected a list, found a string"),
    (api.parse_predict, {"inputs": [["a"]]},
     "inputs[0]: expected a pair [text_a, text_b] (this model scores pairs), found a list of 1"),
    (api.parse_predict, {"inputs": [["a", 3]]}, "inputs[0][1]: expected a string, found a number"),
    (api.parse_rerank, {"query": "q", "texts": ["a", None]},
     "texts[1]: expected a string, found null"),
    (api.parse_rerank, {"query": "q", "texts": ["a"], "truncation_direction": "up"},
     "truncation_direction: expected \"right\" or \"left\", found \"up\""),
    (api.parse_rerank, {"query": "q", "documents": ["a"], "max_tokens_per_doc": 0},
     "max_tokens_per_doc: expected an integer >= 1, found 0"),
    (api.parse_rerank, {"query": "q", "documents": ["a"], "truncate": "no"},
     "truncate: expected true or false, found \"no\""),
    (api.parse_rerank, {"query": "q", "documents": ["a"], "model": 7},
     "model: expected a string, found a number"),
    (api.parse_rerank, {"query": "q", "documents": [{"title": "t"}], "rank_fields": ["title"]},
     "rank_fields: expected [\"text\"] (documents are ranked by their text), found [\"title\"]"),
    (api.parse_rerank, {"query": "q", "texts": ["a"] * 9},
     "texts: 9 items, over --max_pairs_per_request=8"),
])
def test_a_bad_field_is_named(parse, body, message):
  with pytest.raises(api.BadRequest) as raised:
    parse(body, LIMITS)
  assert (raised.value.status, str(raised.value)) == (400, message)


def test_any_model_name_is_taken_unless_the_server_is_strict():
  api.check_model("rerank-v3.5", "stsb-int8", strict=False)
  api.check_model(None, "stsb-int8", strict=True)
  api.check_model("stsb-int8", "stsb-int8", strict=True)
  with pytest.raises(api.BadRequest) as raised:
    api.check_model("rerank-v3.5", "stsb-int8", strict=True)
  assert raised.value.status == 404
  assert str(raised.value) == ("model: \"rerank-v3.5\" is not served here; this server "
                               "serves \"stsb-int8\"")


def test_one_rerank_answer_holds_cohere_s_and_jina_s_fields():
  request = api.parse_rerank({"query": "q", "documents": ["a", "b", "c"], "top_n": 2,
                              "return_documents": True}, LIMITS)
  outputs = {"score": np.array([1.0, 4.0, 2.5], np.float32)}
  body = api.rerank_answer(request, REGRESSION, outputs, served_name="stsb", request_id="r-1",
                           tokens=17, cut=1, api_version="1")
  assert body == {
      "id": "r-1", "model": "stsb",
      "results": [{"index": 1, "relevance_score": 0.8, "document": {"text": "b"}},
                  {"index": 2, "relevance_score": 0.5, "document": {"text": "c"}}],
      "meta": {"api_version": {"version": "1"}, "billed_units": {"search_units": 1},
               "truncated_pairs": 1},
      "usage": {"total_tokens": 17, "prompt_tokens": 17}}


def test_tei_answers_are_lists_best_first():
  rerank = api.parse_rerank({"query": "q", "texts": ["a", "b"], "return_text": True}, LIMITS)
  outputs = {"score": np.array([1.0, 4.0], np.float32)}
  assert api.rerank_answer(rerank, REGRESSION, outputs, served_name="m", request_id="r",
                           tokens=0, cut=0) == [{"index": 1, "score": 0.8, "text": "b"},
                                                {"index": 0, "score": 0.2, "text": "a"}]
  raw = api.parse_rerank({"query": "q", "texts": ["a", "b"], "raw_scores": True}, LIMITS)
  assert api.rerank_answer(raw, REGRESSION, outputs, served_name="m", request_id="r", tokens=0,
                           cut=0) == [{"index": 1, "score": 4.0}, {"index": 0, "score": 1.0}]
  single = api.parse_predict({"inputs": ["a", "b"]}, LIMITS)
  classified = {"probabilities": np.array([[0.25, 0.75]]), "label_id": np.array([1])}
  assert api.predict_answer(single, CLASSIFIER, classified) == [
      {"score": 0.75, "label": "1"}, {"score": 0.25, "label": "0"}]
  batch = api.parse_predict({"inputs": [["a", "b"], ["c", "d"]]}, LIMITS)
  assert api.predict_answer(batch, REGRESSION, {"score": np.array([5.0, 0.0])}) == [
      [{"score": 1.0, "label": "score"}], [{"score": 0.0, "label": "score"}]]
  ours = api.parse_predict({"pairs": [["a", "b"]]}, LIMITS)
  assert api.predict_answer(ours, REGRESSION, {"score": np.array([2.0])}) == {
      "predictions": [{"score": 2.0}]}


def test_info_says_what_tei_s_says():
  info = api.info_answer(REGRESSION, LIMITS, "stsb-int8")
  assert info["model_id"] == info["served_model_name"] == "stsb-int8"
  assert info["model_type"] == {"reranker": {"id2label": {"0": "score"},
                                             "label2id": {"score": 0}}}
  assert (info["max_input_length"], info["max_batch_tokens"], info["max_client_batch_size"],
          info["model_dtype"]) == (16, LIMITS.max_batch_tokens, 8, "int8")
  assert list(api.info_answer(CLASSIFIER, LIMITS, "m")["model_type"]) == ["classifier"]


@pytest.fixture
def tokenizer(tiny_vocab_file):
  return tokenization_fast.FastFullTokenizer(tiny_vocab_file, True)


def test_by_default_pairs_are_cut_as_in_training_and_counted(tokenizer):
  pairs = [("the man", "a dog"), ("the man is playing the guitar", "a woman runs how to pay")]
  laid_out = request_tokens.lay_out(pairs, tokenizer, 12)
  for pair, ids, segments in zip(pairs, laid_out.ids, laid_out.segments):
    expected_ids, mask, expected_segments = pair_token_ids(*pair, tokenizer, 12)
    length = sum(mask)
    assert ids.tolist() == expected_ids[:length]
    assert segments.tolist() == expected_segments[:length]
  assert laid_out.cut == [1] and laid_out.tokens == 7 + 12


def test_truncate_false_refuses_and_max_tokens_per_doc_cuts_the_document(tokenizer):
  pairs = [("the man", "a dog"), ("the man is playing the guitar", "a woman runs how to pay")]
  with pytest.raises(request_tokens.TooLong) as raised:
    request_tokens.lay_out(pairs, tokenizer, 12, request_tokens.Truncation(allowed=False))
  assert (raised.value.index, raised.value.max_seq_length) == (1, 12)
  error = api.too_long(api.parse_rerank({"query": "q", "documents": ["a"]}, LIMITS),
                       raised.value)
  assert error.status == 413 and str(error).startswith("documents[1]: ")
  assert str(error).endswith("tokens, over the model's max_seq_length=12, and truncate is "
                             "false; send it shorter, or truncate: true to cut it")
  laid_out = request_tokens.lay_out(pairs, tokenizer, 64,
                                    request_tokens.Truncation(max_tokens_b=2))
  tokens = [tokenizer.convert_ids_to_tokens(ids.tolist()) for ids in laid_out.ids]
  assert tokens[1][-3:] == ["a", "woman", "[SEP]"] and laid_out.cut == [1]
  assert tokens[0] == ["[CLS]", "the", "man", "[SEP]", "a", "dog", "[SEP]"]


def test_left_truncation_keeps_the_ends(tokenizer):
  laid_out = request_tokens.lay_out([("a", "the man is playing the guitar")], tokenizer, 6,
                                    request_tokens.Truncation(direction="left"))
  assert tokenizer.convert_ids_to_tokens(laid_out.ids[0].tolist()) == [
      "[CLS]", "a", "[SEP]", "the", "guitar", "[SEP]"]
  assert laid_out.cut == [0]


def test_batches_are_filled_by_padded_tokens_in_length_order():
  batches = []

  def run_batch(batch):
    batches.append(batch["input_mask"].sum(axis=1).tolist())
    return {"score": batch["input_mask"].sum(axis=1).astype(np.float32)}

  async def scenario():
    batcher = Batcher(run_batch, max_batch_pairs=4, max_batch_tokens=20, max_delay_ms=0,
                      window=8)
    lengths = [3, 10, 4, 5, 3, 9, 2, 3]
    ids = [np.ones(n, np.int32) for n in lengths]
    # One request queued before the batcher starts: all its pairs are waiting at once.
    pending = asyncio.ensure_future(batcher.score(ids, [np.zeros(n, np.int32) for n in ids],
                                                  timing := {}))
    await asyncio.sleep(0)
    batcher.start()
    outputs = await pending
    await batcher.stop()
    return lengths, outputs, timing

  lengths, outputs, timing = asyncio.run(scenario())
  assert outputs["score"].tolist() == lengths  # each pair's own answer, in request order
  # Shortest first: 4 pairs (the pair limit), then 5 x 2 and 9 x 2 (10 x 3 > 20 tokens).
  assert batches == [[2, 3, 3, 3], [4, 5], [9, 10]]
  assert set(timing) == {"queue", "inference"}


def test_a_request_whose_client_left_loses_its_pairs_and_no_other_s():
  seen = []

  def run_batch(batch):
    seen.extend(batch["input_mask"].sum(axis=1).tolist())
    return {"score": batch["input_mask"].sum(axis=1).astype(np.float32)}

  def pairs(*lengths):
    return [np.ones(n, np.int32) for n in lengths], [np.zeros(n, np.int32) for n in lengths]

  async def scenario():
    batcher = Batcher(run_batch, max_batch_pairs=8, max_delay_ms=0)
    # Waiting side by side (the batcher not started yet), the second's client goes away;
    # as many pairs each, of other lengths (a request is told from another by identity).
    staying = asyncio.ensure_future(batcher.score(*pairs(2, 3, 4)))
    leaving = asyncio.ensure_future(batcher.score(*pairs(5, 6, 7)))
    await asyncio.sleep(0)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
      await leaving
    waiting = batcher.waiting_pairs, batcher.waiting_tokens
    batcher.start()
    outputs = await staying
    await batcher.stop()
    return waiting, outputs

  waiting, outputs = asyncio.run(scenario())
  assert waiting == (3, 9)
  assert outputs["score"].tolist() == [2, 3, 4]
  assert sorted(seen) == [2, 3, 4]
