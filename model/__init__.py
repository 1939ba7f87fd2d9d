"""spotscale.model."""
