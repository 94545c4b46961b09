"""The system of record: SQLAlchemy models, Alembic migrations, template cryptography."""
