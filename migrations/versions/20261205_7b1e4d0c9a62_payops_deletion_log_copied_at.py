"""payops: deletion_log.copied_at, what is already copied off the database (object storage)

Revision ID: 7b1e4d0c9a62
Revises: 5f3c2a91b7d4
Create Date: 2026-12-05 09:20:00

Existing entries start as not copied: the first copy job copies the whole log once.
"""
from alembic import op
import sqlalchemy as sa


revision = '7b1e4d0c9a62'
down_revision = '5f3c2a91b7d4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deletion_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('copied_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_deletion_log_not_copied', ['id'], unique=False,
                              postgresql_where=sa.text('copied_at IS NULL'), sqlite_where=sa.text('copied_at IS NULL'))


def downgrade():
    with op.batch_alter_table('deletion_log', schema=None) as batch_op:
        batch_op.drop_index('ix_deletion_log_not_copied', postgresql_where=sa.text('copied_at IS NULL'),
                            sqlite_where=sa.text('copied_at IS NULL'))
        batch_op.drop_column('copied_at')
