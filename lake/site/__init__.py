"""``lakeprep site``: a static HTML site of the lake, built from Delta logs and small tables, no Spark.

``model``      the plain dataclasses pages are built from
``gather``     commits (with lineage tags), row and file counts, metrics, contracts, quarantine samples
``lineage``    a version's lineage graph from commit tags and OpenLineage events
``features``   split sizes, exclusions and (cached) drift of feature sets
``campaigns``  labelling campaigns read from the labels zone
``charts``     inline SVG charts
``build``      rendering with autoescaped Jinja templates, incremental through a state file
"""

from __future__ import annotations

from lake.site.build import SiteBuild, build_site

__all__ = ["SiteBuild", "build_site"]
