"""Initial schema: acquisitions, parameter sets, task runs, lineage, products, outputs, results.

Revision ID: 0001
Revises: 
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('acquisition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('sample', sa.String(length=255), nullable=True),
    sa.Column('instrument', sa.String(length=255), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('file_path', sa.String(length=1024), nullable=True),
    sa.Column('file_sha256', sa.String(length=64), nullable=True),
    sa.Column('meta', JSON, nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    op.create_index('ix_acquisition_instrument', 'acquisition', ['instrument'])
    op.create_index('ix_acquisition_sample', 'acquisition', ['sample'])
    op.create_index('ix_acquisition_started_at', 'acquisition', ['started_at'])
    op.create_table('parameter_set',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('canonical_json', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    op.create_table('task_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('parameter_set_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('version_major_minor', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('versions', JSON, nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('modified', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parameter_set_id'], ['parameter_set.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index('ix_task_run_name', 'task_run', ['name'])
    op.create_index('ix_task_run_status', 'task_run', ['status'])
    op.create_table('bead_summary',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('acquisition_id', sa.Integer(), nullable=True),
    sa.Column('stack', sa.Integer(), nullable=False),
    sa.Column('spots', sa.Integer(), nullable=False),
    sa.Column('converged', sa.Integer(), nullable=False),
    sa.Column('fwhm_median', sa.Float(), nullable=True),
    sa.Column('fwhm_p16', sa.Float(), nullable=True),
    sa.Column('fwhm_p84', sa.Float(), nullable=True),
    sa.Column('fwhm_mean', sa.Float(), nullable=True),
    sa.Column('fwhm_std', sa.Float(), nullable=True),
    sa.Column('length_unit', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['acquisition_id'], ['acquisition.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['task_run.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'stack')
    )
    op.create_index('ix_bead_summary_acquisition_id', 'bead_summary', ['acquisition_id'])
    op.create_index('ix_bead_summary_fwhm_median', 'bead_summary', ['fwhm_median'])
    op.create_index('ix_bead_summary_run_id', 'bead_summary', ['run_id'])
    op.create_table('product',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['task_run.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('path'),
    sa.UniqueConstraint('run_id', 'kind')
    )
    op.create_table('spot_fit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('acquisition_id', sa.Integer(), nullable=True),
    sa.Column('stack', sa.Integer(), nullable=False),
    sa.Column('spot', sa.Integer(), nullable=False),
    sa.Column('x', sa.Float(), nullable=True),
    sa.Column('x_err', sa.Float(), nullable=True),
    sa.Column('y', sa.Float(), nullable=True),
    sa.Column('y_err', sa.Float(), nullable=True),
    sa.Column('norm', sa.Float(), nullable=True),
    sa.Column('norm_err', sa.Float(), nullable=True),
    sa.Column('fwhm_x', sa.Float(), nullable=True),
    sa.Column('fwhm_x_err', sa.Float(), nullable=True),
    sa.Column('fwhm_y', sa.Float(), nullable=True),
    sa.Column('fwhm_y_err', sa.Float(), nullable=True),
    sa.Column('bg', sa.Float(), nullable=True),
    sa.Column('bg_err', sa.Float(), nullable=True),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('cstat', sa.Float(), nullable=True),
    sa.Column('length_unit', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['acquisition_id'], ['acquisition.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['task_run.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'stack', 'spot')
    )
    op.create_index('ix_spot_fit_acquisition_id', 'spot_fit', ['acquisition_id'])
    op.create_index('ix_spot_fit_fwhm_x', 'spot_fit', ['fwhm_x'])
    op.create_index('ix_spot_fit_fwhm_y', 'spot_fit', ['fwhm_y'])
    op.create_index('ix_spot_fit_run_id', 'spot_fit', ['run_id'])
    op.create_table('run_input',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('acquisition_id', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['acquisition_id'], ['acquisition.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['task_run.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'role')
    )
    op.create_index('ix_run_input_sha256', 'run_input', ['sha256'])
    op.create_table('run_output',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['task_run.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'target')
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('run_output')
    op.drop_index('ix_run_input_sha256', table_name='run_input')
    op.drop_table('run_input')
    op.drop_index('ix_spot_fit_run_id', table_name='spot_fit')
    op.drop_index('ix_spot_fit_fwhm_y', table_name='spot_fit')
    op.drop_index('ix_spot_fit_fwhm_x', table_name='spot_fit')
    op.drop_index('ix_spot_fit_acquisition_id', table_name='spot_fit')
    op.drop_table('spot_fit')
    op.drop_table('product')
    op.drop_index('ix_bead_summary_run_id', table_name='bead_summary')
    op.drop_index('ix_bead_summary_fwhm_median', table_name='bead_summary')
    op.drop_index('ix_bead_summary_acquisition_id', table_name='bead_summary')
    op.drop_table('bead_summary')
    op.drop_index('ix_task_run_status', table_name='task_run')
    op.drop_index('ix_task_run_name', table_name='task_run')
    op.drop_table('task_run')
    op.drop_table('parameter_set')
    op.drop_index('ix_acquisition_started_at', table_name='acquisition')
    op.drop_index('ix_acquisition_sample', table_name='acquisition')
    op.drop_index('ix_acquisition_instrument', table_name='acquisition')
    op.drop_table('acquisition')
