"""A torchrun worker whose rank 1 dies after joining the group, while rank 0 waits for it in a collective.

Started by test_distributed.py through rtguard's launcher: the launcher must report the failure
instead of hanging (torchrun stops the survivors; the group's timeout bounds the wait otherwise).
"""

import os
import sys
from pathlib import Path

import torch.distributed as dist

from rtguard.runfolder import RunFolder
from rtguard.train.distributed import init_process_group

settings = RunFolder(Path(sys.argv[1])).load_config().train.distributed
init_process_group(settings, "cpu")
if os.environ["RANK"] == "1":
    raise RuntimeError("rank 1 crashed on purpose")
dist.barrier()  # never completes: rank 1 is gone
