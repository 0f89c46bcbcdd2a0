"""Runs record the process that runs them (owner_pid, owner_start): a run whose process died is 'lost'

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 23:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner_pid', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('owner_start', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('owner_start')
        batch_op.drop_column('owner_pid')
