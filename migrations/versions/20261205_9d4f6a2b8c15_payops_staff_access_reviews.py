"""payops: staff_access_reviews (policy §7 periodic access review)

Revision ID: 9d4f6a2b8c15
Revises: 7b1e4d0c9a62
Create Date: 2026-12-05 09:35:00

"""
from alembic import op
import sqlalchemy as sa


revision = '9d4f6a2b8c15'
down_revision = '7b1e4d0c9a62'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('staff_access_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reviewer_username', sa.String(length=64), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changes', sa.String(length=2000), nullable=False),
    sa.Column('accounts', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['reviewer_id'], ['staff_accounts.id'],
                            name=op.f('fk_staff_access_reviews_reviewer_id_staff_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_access_reviews'))
    )
    op.create_index('ix_staff_access_reviews_reviewed_at', 'staff_access_reviews', ['reviewed_at'], unique=False)


def downgrade():
    op.drop_index('ix_staff_access_reviews_reviewed_at', table_name='staff_access_reviews')
    op.drop_table('staff_access_reviews')
