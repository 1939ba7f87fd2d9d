"""spotscale.training."""
