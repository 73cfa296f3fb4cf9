"""`python -m render ...`: the renderer's commands without the console script."""
from deoldify_like.cli_support import dispatch

from .commands import COMMANDS

raise SystemExit(dispatch(COMMANDS, prog='python -m render', description='Colorize photos, GIFs, films and folders; measure colour against originals; benchmark the film path; deflicker colour films; serve a local web page.'))
