"""The renderer's commands, in one place: `python -m render` offers them and the `deoldify-like` console
script includes them. name -> 'module:function' (imported only when used)."""
COMMANDS = {
    'render': 'render.cli:render',
    'evaluate': 'render.evaluate:evaluate',
    'bench': 'render.bench:bench',
    'deflicker': 'render.deflicker:deflicker',
    'export': 'render.export:export',
    'serve': 'render.serve.app:serve',
}
