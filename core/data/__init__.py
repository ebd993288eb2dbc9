"""Corpora: real-corpus loaders, the synthetic demo corpus and dataset helpers."""
