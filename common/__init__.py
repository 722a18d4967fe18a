"""What every part of the project needs and none owns: errors, file access, text input,
settings and the command line.

Nothing here imports processors/ or finetune/; both import from here, so the imports
run one way: common <- processors <- finetune <- the entry scripts.
"""
