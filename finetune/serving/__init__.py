"""serve.py's HTTP server: no TensorFlow here (the model comes from finetune/runtime/).

  options.py   serve.py's settings, the limits and batching among them
  server.py    the aiohttp application: routes, request parsing and response shapes,
               API keys, Prometheus metrics
  batching.py  the dynamic batches
"""
