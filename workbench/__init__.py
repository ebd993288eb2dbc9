"""serwb workbench: the Streamlit UI. It renders what core computes and computes nothing itself."""
