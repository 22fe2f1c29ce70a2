"""The analysts' workbench: one query engine (attribute and spatial filters, grouping, aggregates) over the
published layers, saved queries and exports. See docs/analysis.md."""
