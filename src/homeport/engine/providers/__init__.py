"""Model providers: one small class per upstream API, chosen by the model routing table."""
