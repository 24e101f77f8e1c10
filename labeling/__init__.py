"""Labelling campaigns: active learning, auto-labelling and annotation backends."""
