"""Repositories: one module per aggregate, keyword-only functions over a SQLAlchemy session.

The API routes, the run engine and the importer all write through these, so an object reads
the same whichever path created it. Lookups are always scoped to a project: an object of
another project is "not found".
"""
