"""Utilities shared by the tools and the models."""
