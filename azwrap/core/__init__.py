"""Deciding and doing: refresh, plan, apply, the scheduler, destroy, the principal's lifecycle, doctor."""
