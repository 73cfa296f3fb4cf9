"""The `deoldify-like` console script: one subcommand per stage or tool, each a plain function."""
import warnings

from deoldify_like.cli_support import dispatch

# name -> 'module:function'; None = not built yet (prints so and exits 2)
COMMANDS = {
    'prepare': 'train_stages.prepare:prepare',
    'pretrain-gen': 'train_stages.pretrain_gen:pretrain_gen',
    'pretrain-critic': 'train_stages.pretrain_critic:pretrain_critic',
    'gan': 'train_stages.gan:gan',
    'checkpoints': 'train_stages.compare:checkpoints',
    'promote': 'train_stages.promote:promote',
    'render': 'render.cli:render',
    'evaluate': 'render.evaluate:evaluate',
    'bench': 'render.bench:bench',
    'export': 'render.export:export',
    'import-deoldify': 'deoldify_like.reference_import:import_deoldify',
    'quickstart': 'train_stages.quickstart:quickstart',
}


def main(argv=None):
    # fastai decorates functions with torch.jit.script at import; torch 2.14 warns about it on every command
    warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning)
    raise SystemExit(dispatch(COMMANDS, argv, 'deoldify-like',
                              'NoGAN-style colorization: train in stages, pick a checkpoint, render photos and films.'))
