"""Stage 1 on many processes, under `torchrun` or `accelerate launch`: fastai's own distributed support
(`DistributedTrainer`, which wraps the model with accelerate's DistributedDataParallel and shards every
DataLoader with `DistributedDL`). Nothing here schedules or launches processes: the launcher sets RANK,
WORLD_SIZE and LOCAL_RANK, and this module joins its process group (NCCL on CUDA, gloo on CPU).

Rank 0 alone writes the run folder; the others wait at a barrier and read what it recorded (the split).
The critic and GAN stages train on rank 0 alone (`single_process`, `one_job_shared`); the critic's fakes
are made by every rank, each its own share of the pictures.
"""
import os
from contextlib import contextmanager

import torch
import torch.distributed as dist
from fastai.callback.progress import ProgressCallback
from fastai.distributed import DistributedDL, DistributedTrainer
from torch.nn.parallel import DistributedDataParallel

from deoldify_like.device import pick_device


def world_size():
    "Processes in the job, from the launcher's WORLD_SIZE (1 when not launched distributed)."
    return int(os.environ.get('WORLD_SIZE', 1))


def rank():
    return int(os.environ.get('RANK', 0))


def is_main():
    return rank() == 0


def setup(device_name):
    "This process's device, after joining the launcher's process group when there is more than one process."
    dev = pick_device(device_name)
    if world_size() <= 1:
        return dev
    if dev.type == 'cuda':
        local = int(os.environ.get('LOCAL_RANK', 0))
        torch.cuda.set_device(local)
        dev = torch.device('cuda', local)
    if not dist.is_initialized():
        dist.init_process_group('nccl' if dev.type == 'cuda' else 'gloo')
    return dev


def teardown():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active():
    return world_size() > 1 and dist.is_available() and dist.is_initialized()


def barrier():
    if active():
        dist.barrier()


def broadcast(obj):
    "Rank 0's `obj` (any picklable value) on every rank."
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0)
    return box[0]


def mean_over_ranks(values):
    "The element-wise mean over ranks of a list of numbers (the same length on every rank)."
    if not active() or not values:
        return list(values)
    t = torch.tensor([float(v) for v in values], dtype=torch.float64)
    dist.all_reduce(t)
    return (t / world_size()).tolist()


def unwrap(model):
    "The model inside DistributedDataParallel (its state dict without the 'module.' prefix)."
    return model.module if isinstance(model, DistributedDataParallel) else model


class GlooDistributedDL(DistributedDL):
    "fastai's DistributedDL sends the shuffled order as a CUDA tensor (NCCL); over gloo it stays on the CPU."

    def _broadcast(self, t, rank):
        if dist.get_backend() == 'nccl':
            return super()._broadcast(t, rank)
        t = torch.tensor(t, dtype=torch.long)
        dist.broadcast(t, rank)
        return t.tolist()


class StageTrainer(DistributedTrainer):
    "fastai's DistributedTrainer, with DataLoaders sharded over gloo as well as NCCL."

    def _wrap_dl(self, dl):
        return dl if isinstance(dl, DistributedDL) else GlooDistributedDL(dl, device=self.learn.model.device)


def make_distributed(learn, dev):
    """Add fastai's distributed training to `learn` when launched on several processes. BatchNorm is synced
    across processes on CUDA (SyncBatchNorm); torch has no SyncBatchNorm on CPU, so there each process
    normalises with the statistics of its own share of the batch."""
    if world_size() <= 1:
        return learn
    learn.add_cb(StageTrainer(sync_bn=dev.type == 'cuda', cpu=dev.type == 'cpu'))
    if not is_main() and any(isinstance(cb, ProgressCallback) for cb in learn.cbs):
        learn.remove_cb(ProgressCallback)
    return learn


ONE_PROCESS_WHY = {'gan': "fastai's GAN training does not run distributed; ",
                   'pretrain-critic': "the critic is not trained distributed (a small share of the compute); "}


def single_process(stage):
    """For the stages that do not train distributed (fastai's GAN trainer switches between two models, which
    DistributedDataParallel cannot wrap): under a launcher rank 0 goes on alone, as a plain one-process run,
    and every other rank is told to exit. Returns False on the ranks that should exit."""
    if world_size() <= 1:
        return True
    if not is_main():
        return False
    _go_on_alone(stage)
    return True


def _go_on_alone(stage, after=''):
    print(f"{stage}: {ONE_PROCESS_WHY.get(stage, '')}training on one process (rank 0) "
          f"while the other {world_size() - 1} exit{after}", flush=True)
    teardown()
    for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE'):
        os.environ.pop(k, None)  # fastai and accelerate then see a plain one-process run


@contextmanager
def one_job_shared(stage, device_name, work):
    """For a stage that trains on rank 0 alone but has one job every rank can share (the critic's fakes).

    Without a launcher this yields `share(job)`, which does `work(job, device, 0, 1)`. Under a launcher
    every rank joins the group. Ranks other than 0 wait for the job rank 0 sends, do their part,
    `work(job, device, rank, world_size)`, and yield None (the stage then returns). Rank 0 yields
    `share(job)`: it sends the job, does its own part, waits for the others, and goes on alone as a
    one-process run. If rank 0 ends the stage without sharing (an error, nothing to do), the others are
    told so and exit."""
    if world_size() <= 1:
        yield lambda job: work(job, pick_device(device_name), 0, 1)
        return
    dev = setup(device_name)
    if not is_main():
        job = broadcast(None)
        if job is not None:
            work(job, dev, rank(), world_size())
            barrier()
        teardown()
        yield None
        return
    sent = []

    def share(job):
        broadcast(job)
        sent.append(True)
        out = work(job, dev, 0, world_size())
        barrier()
        _go_on_alone(stage, after=' (every rank made its share of the fakes)')
        return out
    try:
        yield share
    finally:
        if not sent:
            broadcast(None)
            _go_on_alone(stage)

