"""Tests of the background-only null hypothesis."""
