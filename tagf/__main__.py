from tagf.cli import run

run()
