"""``rewrite_query``: a routed chat model turns a question into a search query.

The model is ``knowledge.rewrite_model`` (a name in the model routing table, OpenAI-compatible
provider). Without one, or when the model fails, the query is searched as it was sent; the
search page's ``search_query`` always shows what was searched.
"""

from __future__ import annotations

import logging

from homeport.config import Settings

log = logging.getLogger("homeport.knowledge")

INSTRUCTIONS = (
    "Rewrite the user's question as a short keyword search query for a document index. "
    "Reply with the query only."
)


def rewrite_query(settings: Settings, query: str) -> str:
    name = settings.knowledge.rewrite_model
    route = settings.route(name) if name else None
    if route is None or route.provider != "openai":
        return query
    from openai import OpenAI, OpenAIError

    client = OpenAI(
        base_url=route.base_url,
        api_key=route.resolved_api_key() or "unused",
        timeout=route.timeout_seconds,
        max_retries=route.max_retries,
    )
    try:
        reply = client.chat.completions.create(
            model=route.upstream,
            messages=[
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": query},
            ],
            max_tokens=64,
            temperature=0,
        )
    except OpenAIError as exc:
        log.warning("query rewrite with %s failed: %s", name, exc)
        return query
    finally:
        client.close()
    text = (reply.choices[0].message.content or "").strip()
    return text or query
