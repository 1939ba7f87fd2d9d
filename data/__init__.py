"""spotscale.data."""
