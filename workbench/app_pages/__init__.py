"""One module per page; workbench/app.py registers them with st.navigation."""
