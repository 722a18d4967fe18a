"""The reranker clients retrieval code already uses, pointed at serve.py on 127.0.0.1.

Each client is called as its user would write it, with only its base URL changed (no
network: the URL is the test's server), and must get what POST /rerank answers: the same
documents in the same order with the same scores. A client whose package is not
installed is skipped (requirements-test-clients.txt; CI installs it).
"""

import numpy as np
import pytest

from served import Server, served_models

pytestmark = pytest.mark.slow

QUERY = "A man is playing a guitar."
DOCUMENTS = ["A woman is slicing an onion.", "A man plays the guitar.", "支付宝怎么充值",
             "a photo", "A man sings and plays."]
TOP_N = 3


@pytest.fixture(scope="module")
def models(zh_model, tmp_path_factory):
  return served_models(tmp_path_factory.mktemp("served"), zh_model)


@pytest.fixture(scope="module")
def served(models, request):  # pylint: disable=redefined-outer-name
  """A server for the module's clients, and what its /rerank answers them (top 3)."""
  server = Server(models["regression"], "--served_model_name=stsb-tiny")
  request.addfinalizer(server.close)
  server.wait_ready()
  status, _, body = server.request("POST", "/rerank", {"query": QUERY, "documents": DOCUMENTS,
                                                       "top_n": TOP_N})
  assert status == 200
  return server, [(item["index"], item["relevance_score"]) for item in body["results"]]


def same_ranking(got, expected):
  assert [index for index, _ in got] == [index for index, _ in expected]
  np.testing.assert_allclose([score for _, score in got], [score for _, score in expected],
                             atol=1e-5)


def test_cohere_v1_client(served):
  cohere = pytest.importorskip("cohere")
  server, expected = served
  client = cohere.Client(api_key="unused", base_url="http://127.0.0.1:%d" % server.port,
                         timeout=30)
  response = client.rerank(model="rerank-english-v3.0", query=QUERY, documents=DOCUMENTS,
                           top_n=TOP_N, return_documents=True)
  same_ranking([(r.index, r.relevance_score) for r in response.results], expected)
  assert [r.document.text for r in response.results] == [DOCUMENTS[i] for i, _ in expected]
  assert response.meta.api_version.version == "1" and response.id


def test_cohere_v2_client(served):
  cohere = pytest.importorskip("cohere")
  server, expected = served
  client = cohere.ClientV2(api_key="unused", base_url="http://127.0.0.1:%d" % server.port,
                           timeout=30)
  response = client.rerank(model="rerank-v3.5", query=QUERY, documents=DOCUMENTS, top_n=TOP_N)
  same_ranking([(r.index, r.relevance_score) for r in response.results], expected)
  assert response.meta.api_version.version == "2"


def test_langchain_cohere_rerank(served):
  cohere = pytest.importorskip("cohere")
  langchain_cohere = pytest.importorskip("langchain_cohere")
  from langchain_core.documents import Document  # pylint: disable=import-outside-toplevel
  server, expected = served
  reranker = langchain_cohere.CohereRerank(
      client=cohere.ClientV2(api_key="unused", base_url="http://127.0.0.1:%d" % server.port,
                             timeout=30), model="rerank-v3.5", top_n=TOP_N)
  same_ranking([(r["index"], r["relevance_score"])
                for r in reranker.rerank(DOCUMENTS, QUERY)], expected)
  compressed = reranker.compress_documents([Document(page_content=d) for d in DOCUMENTS], QUERY)
  assert [d.page_content for d in compressed] == [DOCUMENTS[i] for i, _ in expected]


def test_llama_index_jina_rerank(served):
  jinaai_rerank = pytest.importorskip("llama_index.postprocessor.jinaai_rerank")
  from llama_index.core.schema import NodeWithScore, TextNode  # pylint: disable=import-outside-toplevel
  server, expected = served
  for base_url in ("http://127.0.0.1:%d/v1" % server.port, "http://127.0.0.1:%d" % server.port):
    reranker = jinaai_rerank.JinaRerank(api_key="unused", base_url=base_url, top_n=TOP_N)
    nodes = [NodeWithScore(node=TextNode(text=d, id_="doc-%d" % i))
             for i, d in enumerate(DOCUMENTS)]
    ranked = reranker.postprocess_nodes(nodes, query_str=QUERY)
    same_ranking([(int(n.node.id_.split("-")[1]), n.score) for n in ranked], expected)
