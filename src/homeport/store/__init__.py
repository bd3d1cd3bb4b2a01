"""Persistent state: SQLAlchemy models, the database engine, migrations and repositories."""
