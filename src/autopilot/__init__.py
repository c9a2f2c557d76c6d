"""Autopilot: automation engine for investing."""
