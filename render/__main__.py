"""`python -m render ...`: the renderer's commands without the console script."""
from deoldify_like.cli_support import dispatch

COMMANDS = {'render': 'render.cli:render', 'evaluate': 'render.evaluate:evaluate', 'bench': 'render.bench:bench',
            'deflicker': 'render.deflicker:deflicker', 'serve': 'render.serve.app:serve'}

raise SystemExit(dispatch(COMMANDS, prog='python -m render', description='Colorize photos, GIFs, films and folders; measure colour against originals; benchmark the film path; deflicker colour films; serve a local web page.'))
