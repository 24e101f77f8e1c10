"""The ``lakeprep`` application, composed above the core library (``lake``) and its add-ons
(``labeling``): the command line (``lakeprep.cli``) and the demo that runs the whole flow
(``lakeprep.demo``). Nothing in ``lake`` imports from here or from ``labeling``."""
