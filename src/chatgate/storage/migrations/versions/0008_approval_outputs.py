"""Approved calls that ran: the output each one produced, kept until its run completes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

An approved call is marked `ran` (its `decision`) before it is sent to the tool server, and its
output is stored in `tool_approvals.output` when it returns. A resumed run that then fails keeps its
paused run; retrying the same answer replays this output to the model instead of running the call
again (at most once, `chatgate.approvals.store`). The new column is nullable: no backfill, and the
table's row-level security policy and grants (0006) cover it already.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tool_approvals", sa.Column("output", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tool_approvals") as table:
        table.drop_column("output")
