"""spotscale.inference."""
