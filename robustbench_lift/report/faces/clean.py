"""Suite "clean": the clean error alone (the "c" face's tables show its clean cell)."""

from robustbench_lift.report.face import Face
from robustbench_lift.report.faces.c import CLEAN_ERR

FACE = Face(suite="clean", priority=3, metrics={"clean_err": CLEAN_ERR},
            summarize="robustbench_lift.report.aggregate:error_summary",
            units="robustbench_lift.report.paired:error_units")
