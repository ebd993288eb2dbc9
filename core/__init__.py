"""serwb core: audio, features, data, models, training and attribution. Never imports streamlit."""

__version__ = "0.1.0"
