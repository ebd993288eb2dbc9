"""Reusable UI pieces: plotly figure builders, players, the error panel."""
