"""Knowledge: files, parsing, chunking, local embeddings, the vector index with hybrid search,
ingestion jobs and the ``file_search`` tool. The team's documents stay in its own database."""
