"""Data-parallel training under ``torchrun``: one process per GPU (NCCL) or per CPU worker (gloo).

``torchrun --nproc-per-node N -m core.cli train ...`` sets ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE`` and the rendezvous address; ``context()`` reads them, starts the process
group once and says which device this process uses. Every rank decodes the same clips and
draws the same shuffled *global* batch from the same seeded generator; rank ``r`` trains on
its contiguous share of it (``shard``). The loss of a shard is its weighted loss *sum*
divided by the weight sum of the whole global batch, times the world size (DDP averages
gradients over ranks), so the summed gradient equals the single-process gradient of the
same global batch up to floating-point summation order.

What differs from one process:

* **BatchNorm** normalises with the statistics of each rank's shard, not of the global
  batch, and each rank's running statistics evolve on its own (rank 0's are saved). On CUDA
  the loop converts BatchNorm to ``SyncBatchNorm`` (global-batch statistics, as one process);
  PyTorch 2.11's ``SyncBatchNorm`` refuses CPU tensors, so on CPU/gloo BN stays per rank.
* **Dropout** masks come from each rank's own generator (seeded with the seed and the rank).
* Summation order of the gradient all-reduce: results agree to float32 rounding, not bits.

Only rank 0 writes checkpoints, prints progress and evaluates on validation data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from core import devices
from core.errors import ConfigError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ConfigError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number; start training with torchrun.") from None


def context(device: str | torch.device = "auto") -> Context:
    """This process's rank and device; joins the process group when launched by torchrun."""
    world = env_world_size()
    if world <= 1:
        return Context(device=devices.resolve(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    target = devices.resolve(device)
    if target.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"torchrun started {os.environ.get('LOCAL_WORLD_SIZE', '?')} processes on this machine but it has "
                f"{torch.cuda.device_count()} GPU(s); use --nproc-per-node {torch.cuda.device_count()}."
            )
        target = torch.device("cuda", local_rank)
        torch.cuda.set_device(target)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if target.type == "cuda" else "gloo")
    return Context(rank=rank, world_size=world, local_rank=local_rank, device=target)


def shard(global_batch: torch.Tensor, ctx: Context) -> torch.Tensor:
    """This rank's contiguous share of a global batch (``tensor_split``: sizes differ by at most one)."""
    if not ctx.distributed:
        return global_batch
    return torch.tensor_split(global_batch, ctx.world_size)[ctx.rank]


def barrier(ctx: Context) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    """Leave the process group (call once at the end of a torchrun process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
