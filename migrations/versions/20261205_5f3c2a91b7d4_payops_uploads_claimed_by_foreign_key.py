"""payops: uploads.claimed_by is a foreign key to generation_jobs.public_id, indexed

Revision ID: 5f3c2a91b7d4
Revises: c16d74b85e0a
Create Date: 2026-12-05 09:10:00

A claimed upload names its job; until now only by convention. Claims naming no job (none should
exist) are cleared first, so the constraint can be added. The job row may be deleted before the
upload row (retention): the claim then becomes NULL.
"""
from alembic import op
import sqlalchemy as sa


revision = '5f3c2a91b7d4'
down_revision = 'c16d74b85e0a'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE uploads SET claimed_by = NULL WHERE claimed_by IS NOT NULL AND claimed_by NOT IN "
               "(SELECT public_id FROM generation_jobs)")
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.alter_column('claimed_by', existing_type=sa.String(length=64), type_=sa.String(length=32),
                              existing_nullable=True)
        batch_op.create_index(batch_op.f('ix_uploads_claimed_by'), ['claimed_by'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_uploads_claimed_by_generation_jobs'), 'generation_jobs',
                                    ['claimed_by'], ['public_id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_uploads_claimed_by_generation_jobs'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_uploads_claimed_by'))
        batch_op.alter_column('claimed_by', existing_type=sa.String(length=32), type_=sa.String(length=64),
                              existing_nullable=True)
