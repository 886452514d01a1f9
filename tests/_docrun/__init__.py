"""Runs the code blocks of README.md and docs/*.md as tests (collected by the root conftest.py)."""
