"""`python -m render ...`: the renderer's commands without the console script."""
from deoldify_like.cli_support import dispatch

COMMANDS = {'render': 'render.cli:render', 'bench': 'render.bench:bench', 'export': 'render.export:export'}

raise SystemExit(dispatch(COMMANDS, prog='python -m render', description='Colorize photos, GIFs, films and folders; benchmark the film path.'))
