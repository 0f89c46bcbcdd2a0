"""Alembic environment of the run catalogue: runs on the connection :func:`open_catalogue` hands over."""

from alembic import context

from panosc_cwl.catalogue.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` command line with sqlalchemy.url in its ini
    from sqlalchemy import create_engine

    connection = create_engine(context.config.get_main_option("sqlalchemy.url")).connect()

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
