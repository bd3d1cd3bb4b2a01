"""The OpenAI wire contract, one module per surface: pydantic request models (validation as
OpenAI's) and renderers that turn store rows into response dicts matching the spec's schemas.

Renderers build plain dicts on purpose: no pydantic on the response path.
"""
