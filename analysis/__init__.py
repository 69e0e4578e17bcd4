"""mmlab analysis: result sets into reports (docs/analysis.md)."""
