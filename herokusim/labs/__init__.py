"""labs/: the book's lessons as exercises — a flawed app, a task and an automatic check each (lab.py), run
against the live platform through a CheckContext (context.py) by the runner (runner.py); one module per lab
in labs/content/, listed in order by labs/catalogue.py."""
