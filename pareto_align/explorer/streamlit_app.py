"""Streamlit entry point of the explorer: ``streamlit run streamlit_app.py -- RUN_DIR...``.

Shipped inside the package so that ``pareto-align explore`` finds it however pareto_align is installed; the page
itself is ``pareto_align.explorer.page``.
"""

from pareto_align.explorer.page import main

main()
