"""`deoldify-like serve`: a local web page and a small JSON/HTTP API on top of the renderer.

options.py  which render settings a job may carry (read from the render functions' own signatures)
uploads.py  streaming multipart uploads with a size limit, type sniffing by content, safe names
jobs.py     the job folder per upload, the one-worker queue, restart persistence
app.py      the FastAPI app and the `serve` command; web/ the page (plain HTML + JS, no build step)
"""
