"""generation results likeness score and flag

Revision ID: e1f1125f412a
Revises: dd9d71ff6fc5
Create Date: 2026-11-29 01:18:49.858213

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1f1125f412a'
down_revision = 'dd9d71ff6fc5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('generation_results', schema=None) as batch_op:
        batch_op.add_column(sa.Column('likeness_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('likeness_flagged', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('generation_results', schema=None) as batch_op:
        batch_op.drop_column('likeness_flagged')
        batch_op.drop_column('likeness_score')
