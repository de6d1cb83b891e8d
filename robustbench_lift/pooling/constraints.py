"""LiftPool's constraint weights, the defaults of `lifting_loss` and of every training recipe (torch-free, so a
recipe and the command line read them without importing the layers).

The training loss adds `lambda_u * sum c_u + lambda_p * sum c_p` over every LiftDownPool to the task loss
(Zhao & Snoek, ICLR 2021); docs/liftpool.md, "Constraints", records the values and which of them are our choice.
"""

DEFAULT_LAMBDA_U = 0.01
"""Weight of the updater constraint c_u = mean((s - x_o)^2)."""
DEFAULT_LAMBDA_P = 0.1
"""Weight of the predictor constraint c_p = mean(d^2)."""
