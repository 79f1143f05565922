"""limits: generation_jobs.dispatched_at (the fair generation queue)

Revision ID: c4f1a9e2b7d3
Revises: 665c91627e3f
Create Date: 2026-12-05 09:00:00

A queued job whose dispatched_at is null waits in the database for its user's turn (app/generation/queue.py);
the jobs queued before this revision are all in RQ already, so they count as dispatched when they were created.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4f1a9e2b7d3'
down_revision = '665c91627e3f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('generation_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE generation_jobs SET dispatched_at = created_at WHERE status = 'queued'")


def downgrade():
    # Jobs still waiting for their turn would never reach RQ without the fair queue: the sweep of the older code
    # re-enqueues every queued job whose RQ job does not exist, so they are picked up after the downgrade.
    with op.batch_alter_table('generation_jobs', schema=None) as batch_op:
        batch_op.drop_column('dispatched_at')
