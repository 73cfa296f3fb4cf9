"""The `deoldify-like` console script: one subcommand per stage or tool, each a plain function."""
from deoldify_like.cli_support import dispatch

# name -> 'module:function'; None = not built yet (prints so and exits 2)
COMMANDS = {
    'prepare': None,
    'pretrain-gen': None,
    'pretrain-critic': None,
    'gan': None,
    'checkpoints': None,
    'promote': None,
    'render': 'render.cli:render',
    'evaluate': 'render.evaluate:evaluate',
    'bench': 'render.bench:bench',
    'import-deoldify': None,
    'quickstart': None,
}


def main(argv=None):
    raise SystemExit(dispatch(COMMANDS, argv, 'deoldify-like',
                              'NoGAN-style colorization: train in stages, pick a checkpoint, render photos and films.'))
