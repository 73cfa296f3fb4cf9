"""Where the embedded demo data lives (see demo_data/NOTICE.md for each file and its terms)."""
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent / 'demo_data'
DEMO_COLOUR = DEMO_DIR / 'colour'  # colour photos to train on
DEMO_BW = DEMO_DIR / 'bw'  # real black-and-white photos to colorize
DEMO_FILM = DEMO_DIR / 'film' / 'a-bomb_blast_effects_part.mp4'  # a real black-and-white film
