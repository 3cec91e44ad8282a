"""The Pareto explorer, for running from a source checkout: ``streamlit run apps/explorer.py -- RUN_DIR...``.

A thin entry: ``pareto-align explore RUN_DIR...`` serves the same page from inside the package
(``pareto_align/explorer/streamlit_app.py``); everything it shows comes from ``pareto_align.explorer``.
"""

from pareto_align.explorer.page import main

main()
