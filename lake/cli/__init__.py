"""The core's commands of ``lakeprep``, one sub-module per area; each has a ``register(app)``.

``lake.cli.lake_commands``     sample, run, tables, history, quality, vacuum, optimize
``lake.cli.lineage_commands``  lineage, drift
``lake.cli.site_commands``     site
``lake.cli.contract_commands`` contract export, import (ODCS v3)
``lake.cli.pipeline_commands`` pipeline run, show (status, start, submit: ``deploy_commands``)
``lake.cli.deploy_commands``   deploy, glue, emr, emr-serverless, catalog, iam (``lake.deploy`` does the work)
``lake.cli.common``            the console, ``--lake``, table references (also used by ``labeling.cli``)

The app itself is composed above the core and the add-ons, in ``lakeprep.cli`` (with ``demo`` and
``campaign``): ``lake`` never imports ``labeling``.
"""
