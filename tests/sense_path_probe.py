"""Run a script with one sense-layer path made slow and a record of the paths that ran.

`python tests/sense_path_probe.py SCRIPT ARGS...` with SLOW_SENSE_PATH=fused|eager (on every rank, or only on
the rank in SLOW_SENSE_PATH_RANK) and SENSE_PATH_RECORD=<file prefix>: each process writes the set of paths
it computed to `<prefix>.<rank>`. A chooser that timed the paths would pick the other one in that process.
"""
import atexit
import os
import runpy
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from langadapt.backpack import modeling  # noqa: E402

RANK = os.environ.get("RANK", "0")
SLOW = os.environ.get("SLOW_SENSE_PATH", "")
if os.environ.get("SLOW_SENSE_PATH_RANK", RANK) != RANK:
    SLOW = ""
RAN: set[str] = set()


def probed(path, compute):
    def run(*args, **kwargs):
        RAN.add(path)
        if path == SLOW:
            time.sleep(0.01)
        return compute(*args, **kwargs)
    return run


modeling.fused_sense_attention = probed("fused", modeling.fused_sense_attention)
modeling.eager_sense_attention = probed("eager", modeling.eager_sense_attention)


@atexit.register
def write_record():
    with open(f"{os.environ['SENSE_PATH_RECORD']}.{RANK}", "w") as record:
        record.write(" ".join(sorted(RAN)))


script, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_path(script, run_name="__main__")
