"""labs/content: one module per lab (`lab01_ephemeral_filesystem.py` ...), each defining `LAB`."""
