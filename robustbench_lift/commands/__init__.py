"""Click commands of the `liftbench` CLI, one module per feature; `robustbench_lift.cli` assembles them."""
