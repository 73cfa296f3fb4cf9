"""The renderer on top of the core: render_factor, photos, GIFs, films and folders."""
