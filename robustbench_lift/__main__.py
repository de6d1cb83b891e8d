"""`python -m robustbench_lift ...` (used by torchrun) is the `liftbench` CLI."""

from robustbench_lift.cli import main

if __name__ == "__main__":
    main()
