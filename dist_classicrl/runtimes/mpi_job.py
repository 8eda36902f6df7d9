"""One distributed training job inside ``mpiexec`` (started by `DistributedRuntime`).

    mpiexec -n N python -m mpi4py -m dist_classicrl.runtimes.mpi_job DIR

Every rank loads ``DIR/job.pkl`` and trains; rank 0 writes ``DIR/result.pkl``.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from mpi4py import MPI

from dist_classicrl.runtimes.distributed import train_spmd


def main(job_dir: str) -> None:
    runtime, algorithm, env, steps, epsilon, learning_rate, seed = pickle.loads(
        (Path(job_dir) / "job.pkl").read_bytes()
    )
    comm = MPI.COMM_WORLD
    result = train_spmd(comm, runtime, algorithm, env, steps, epsilon, learning_rate, seed)
    if comm.Get_rank() == 0:
        (Path(job_dir) / "result.pkl").write_bytes(pickle.dumps((result, result.q_table)))


if __name__ == "__main__":
    main(sys.argv[1])
