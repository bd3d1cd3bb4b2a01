"""Test doubles that are product code: tests, benchmarks and the demo all use them.

- ``scripted_model``: a deterministic OpenAI- and Anthropic-compatible model server.
- ``local_model``: starts a real small LLM (SmolLM2 on llama.cpp) behind an OpenAI-compatible API.
"""
