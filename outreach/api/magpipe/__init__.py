"""The Magpipe-compatible facade (seed 003): /functions/v1/scheduled-actions."""
